#!/bin/sh
# The nginx image's entrypoint, as far as the UI image uses it: before nginx starts, each
# $NGINX_ENVSUBST_TEMPLATE_DIR/*.template (default /etc/nginx/templates) is rendered into
# $NGINX_ENVSUBST_OUTPUT_DIR (default /etc/nginx/conf.d) without the suffix, substituting only
# the environment variables whose names match $NGINX_ENVSUBST_FILTER (a regular expression), so
# nginx's own $variables stay. Any other command runs as it is.
set -eu

render_templates() {
    template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
    output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
    filter="${NGINX_ENVSUBST_FILTER:-}"
    [ -d "$template_dir" ] || return 0
    if [ ! -w "$output_dir" ]; then
        echo "$0: $output_dir is not writable: cannot render the templates of $template_dir" >&2
        exit 1
    fi
    names=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E -e "$filter" || true)
    defined=$(for name in $names; do printf '${%s} ' "$name"; done)
    for template in "$template_dir"/*.template; do
        [ -f "$template" ] || continue
        output="$output_dir/$(basename "$template" .template)"
        echo "$0: rendering $template to $output" >&2
        envsubst "$defined" < "$template" > "$output"
    done
}

if [ "${1:-}" = nginx ]; then
    render_templates
fi
exec "$@"
