#!/bin/sh
# Creates the cluster in $PGDATA on the first start (user POSTGRES_USER with the password in
# POSTGRES_PASSWORD_FILE, database POSTGRES_DB), then runs PostgreSQL on all addresses.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb --username="$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" --auth-host=scram-sha-256 \
        --auth-local=trust "$PGDATA" >/dev/null
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    postgres --single -D "$PGDATA" -c unix_socket_directories=/tmp postgres <<SQL >/dev/null
CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER";
SQL
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
