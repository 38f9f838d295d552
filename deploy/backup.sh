#!/bin/sh
# Dump one PostgreSQL database to BACKUP_DIR as pg_dump's custom format, written as .part and
# renamed when complete, and delete dumps older than KEEP_DAYS. Prints the file it wrote.
# The connection comes from libpq's defaults and PGHOST, PGPORT, PGUSER (peer auth as `tend`).
# Restore: pg_restore --no-owner --dbname=NEW_DATABASE FILE (see docs/deploy.md).
set -eu
database="${1:?usage: backup.sh DATABASE}"
dir="${BACKUP_DIR:-/var/backups/tend}"
keep="${KEEP_DAYS:-14}"
file="$dir/$database-$(date -u +%Y%m%dT%H%M%SZ).dump"
mkdir -p "$dir"
pg_dump --format=custom --file="$file.part" "$database"
mv "$file.part" "$file"
find "$dir" -maxdepth 1 -name "$database-*.dump" -mtime +"$keep" -delete
echo "$file"
