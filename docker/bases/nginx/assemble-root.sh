#!/bin/sh
# Assembles the nginx base's root filesystem in $1 from the builder's Debian: nginx and envsubst
# with the shared libraries they load (as ldd lists them), a static busybox for the shell tools,
# nginx's configuration and mime types, the entrypoint, and users root and nginx (101).
set -eu
root=$1
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib/x86_64-linux-gnu" "$root/usr/lib64" \
    "$root/etc/nginx/conf.d" "$root/etc/nginx/templates" "$root/usr/share/nginx/html" "$root/var/log/nginx"
# Debian 12's merged /usr: /bin, /sbin and /lib are links into /usr.
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
install -d -m 1777 "$root/tmp"

for binary in /usr/sbin/nginx /usr/bin/envsubst; do
    cp "$binary" "$root$binary"
    for library in $(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
        cp -L "$library" "$root/usr${library#/usr}"
    done
done

cp /bin/busybox "$root/usr/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
done

cp /etc/nginx/mime.types "$root/etc/nginx/mime.types"
cp /build/nginx.conf "$root/etc/nginx/nginx.conf"
install -m 0755 /build/docker-entrypoint.sh "$root/docker-entrypoint.sh"
ln -s /dev/stdout "$root/var/log/nginx/access.log"
ln -s /dev/stderr "$root/var/log/nginx/error.log"

printf 'root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/nonexistent:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$root/etc/passwd"
printf 'root:x:0:\nnginx:x:101:\nnogroup:x:65534:\n' > "$root/etc/group"
# The rendered configuration goes to conf.d: writable by nginx where no volume covers it.
chown 101:101 "$root/etc/nginx/conf.d"
