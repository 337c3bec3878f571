#!/bin/sh
# Makes what compose.yaml (or, with --client, compose.client.yaml) mounts from this host, once:
# fresh secrets and the data directories, owned by the uid that uses each (the platform's 10001,
# PostgreSQL's 999). Run as root, from the repository root (docs/deploy-compose.md):
#
#   sh docker/compose-setup.sh [DIR]              # DIR: KAFKAML_COMPOSE_DIR, default ./compose
#   sh docker/compose-setup.sh --client DIR       # DIR: KAFKAML_CLIENT_DIR, absolute; the client's
#                                                 # wallet key too, unless DIR has one
#
# A file or directory that exists is left as it is (run it again after deleting one to make it
# anew); the database URL is written with the password of postgres-password, so delete both
# together. With compose.jobs.yaml, DIR must be an absolute path (the jobs' secret files are
# bind-mounted by the engine, which reads host paths).
set -eu
CLIENT=no
if [ "${1:-}" = --client ]; then
    CLIENT=yes
    [ -n "${2:-}" ] || { echo "compose-setup: --client needs the client's directory (KAFKAML_CLIENT_DIR)" >&2; exit 1; }
    case $2 in /*) ;; *) echo "compose-setup: the client's directory must be an absolute path" >&2; exit 1;; esac
    shift
fi
DIR=${1:-${KAFKAML_COMPOSE_DIR:-./compose}}
PLATFORM=10001   # the services and worker images' user (docker/*.Dockerfile)
POSTGRES=999     # the database image's user (docker/infra/postgres.Containerfile)
UI=101           # the UI image's nginx (docker/ui.Dockerfile)

[ "$(id -u)" = 0 ] || { echo "compose-setup: run as root (the files belong to the containers' users)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "compose-setup: openssl is needed (apt-get install openssl)" >&2; exit 1; }
umask 077
mkdir -p "$DIR/secrets" "$DIR/data"
chmod 0755 "$DIR" "$DIR/secrets" "$DIR/data"

# secret NAME OWNER GROUP COMMAND: writes NAME from COMMAND's output unless it exists.
secret() {
    file="$DIR/secrets/$1"
    if [ ! -s "$file" ]; then
        sh -c "$4" > "$file.new"
        mv "$file.new" "$file"
        echo "compose-setup: made $file"
    fi
    chown "$2:$3" "$file"
    chmod 0440 "$file"
}

# data DIRECTORY OWNER: a data directory only its owner enters.
data() {
    mkdir -p "$DIR/data/$1"
    chown "$2:$2" "$DIR/data/$1"
    chmod 0700 "$DIR/data/$1"
}

secret backend-secret-key 0 "$PLATFORM" 'openssl rand -hex 40'
secret logger-token 0 "$PLATFORM" 'openssl rand -hex 20'
if [ "$CLIENT" = yes ]; then
    data run "$PLATFORM"     # the federated backend's KAFKAML_RUN_DIR: its SQLite, the trainers' secret files
    # The wallet: a Secret of the Docker launcher (a directory of the run directory, one file per
    # key), read by the backend only to copy it into each trainer. An owner's own key is kept.
    data run/kafka-ml-client-wallet "$PLATFORM"
    wallet="$DIR/data/run/kafka-ml-client-wallet/key"
    if [ ! -s "$wallet" ]; then
        printf "0x%s\n" "$(openssl rand -hex 32)" > "$wallet.new"
        mv "$wallet.new" "$wallet"
        echo "compose-setup: made $wallet"
    fi
    chown "$PLATFORM:$PLATFORM" "$wallet"
    chmod 0400 "$wallet"
    echo "compose-setup: $DIR is ready"
    exit 0
fi
secret eth-admin-key 0 "$PLATFORM" 'printf "0x%s\n" "$(openssl rand -hex 32)"'
secret postgres-password "$POSTGRES" "$POSTGRES" 'openssl rand -hex 16'
PASSWORD=$(cat "$DIR/secrets/postgres-password")
secret database-url 0 "$PLATFORM" "printf 'postgresql://kafkaml:%s@postgres:5432/kafkaml\n' '$PASSWORD'"

data files "$PLATFORM"      # the backend's uploads (BACKEND_STORAGE_DIR)
data chain "$PLATFORM"      # Anvil's state file
data postgres "$POSTGRES"   # PGDATA
data jobs "$PLATFORM"       # compose.jobs.yaml: the jobs' secret files (KAFKAML_RUN_DIR)
data ui-conf "$UI"          # nginx's rendered configuration
echo "compose-setup: $DIR is ready"
