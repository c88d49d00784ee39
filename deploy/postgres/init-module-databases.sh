#!/bin/sh
# First start of the PostgreSQL volume only (docker-entrypoint-initdb.d): one database
# per module, all owned by the application role. Each module migrates its own schema.
set -eu
for db in ${CTH_MODULE_DATABASES:-}; do
    echo "creating database $db"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -c "CREATE DATABASE \"$db\" OWNER \"$POSTGRES_USER\""
done
