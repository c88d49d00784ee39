#!/bin/sh
# The official image's first-start behaviour, as much of it as the stack and
# deploy/compose.tests.yml use. Like the official image it starts as root, makes the data
# directory postgres's and runs on as postgres: a tmpfs mount (deploy/compose.tests.yml) is
# root's with the image directory's mode 755, so postgres alone could not create the cluster
# in it (measured: `make swarm-integration` failed on "mkdir ... Permission denied").
set -eu
if [ "$(id -u)" = 0 ]; then
    mkdir -p /var/lib/postgresql/data /var/run/postgresql
    chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi
export POSTGRES_USER POSTGRES_DB
PGDATA=/var/lib/postgresql/data/pg
export PGDATA
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        pwfile=$(mktemp)
        printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
        initdb --encoding=UTF8 --locale=C.UTF-8 --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256
        rm -f "$pwfile"
        method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    else
        initdb --encoding=UTF8 --locale=C.UTF-8 --username="$POSTGRES_USER" --auth-local=trust --auth-host=trust
        method=${POSTGRES_HOST_AUTH_METHOD:-trust}
    fi
    echo "host all all all $method" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
            -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    for script in /docker-entrypoint-initdb.d/*; do
        case "$script" in
            *.sh) echo "running $script"; sh "$script" ;;
            *.sql) echo "running $script"; psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$script" ;;
            *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
