#!/usr/bin/env bash
# Back up Teichaku: the whole database (pg_dump, custom format, as the schema owner) and the
# uploaded documents (a tar of UPLOAD_ROOT), into a new directory BACKUP_ROOT/teichaku-<UTC time>
# with a MANIFEST.sha256 that restore.sh checks before it writes anything.
#
#   infra/scripts/backup.sh [BACKUP_ROOT]        (default: $BACKUP_ROOT, else /var/backups/teichaku)
#
# Environment, as in /etc/teichaku/teichaku.env: DATABASE_URL (the owner: its BYPASSRLS lets
# pg_dump read every center past the forced row-level security), UPLOAD_ROOT.
# Prints the new directory on stdout.  Layout:
#   database.dump     pg_dump --format=custom (pg_restore reads it)
#   uploads.tar       UPLOAD_ROOT's files (<center_id>/<document_id>)
#   uploads.sha256    one sum per uploaded file, checked again after restore
#   INFO              time, schema revision, pg_dump version
#   MANIFEST.sha256   sums of the four files above
set -euo pipefail

: "${DATABASE_URL:?DATABASE_URL (the schema owner) must be set}"
: "${UPLOAD_ROOT:?UPLOAD_ROOT must be set}"
root="${1:-${BACKUP_ROOT:-/var/backups/teichaku}}"
# libpq reads postgresql:// URLs, not SQLAlchemy's postgresql+psycopg:// ones.
db_url="${DATABASE_URL/postgresql+psycopg:/postgresql:}"

umask 077  # the dump holds 要配慮個人情報: readable by the backup's owner only
mkdir -p "$root"
dir="$root/teichaku-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir "$dir"  # fails rather than mixing two backups in one directory
trap 'echo "backup FAILED; incomplete directory left at $dir" >&2' ERR

# One consistent snapshot of the database (pg_dump reads in a single repeatable-read transaction).
pg_dump --format=custom --compress=6 --file="$dir/database.dump" --dbname="$db_url"

# Documents after the dump: a document committed in between is in the tar without its row (an
# unused file); a document row in the dump always has its file, since files are never changed
# once committed.  Half-written uploads (.*.part) are left out.
mkdir -p "$UPLOAD_ROOT"
tar --create --file="$dir/uploads.tar" --directory="$UPLOAD_ROOT" --exclude='.*.part' .
(cd "$UPLOAD_ROOT" && find . -type f ! -name '.*.part' -print0 | sort -z | xargs -0 -r sha256sum) > "$dir/uploads.sha256"

{
  echo "created_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "schema_revision=$(psql "$db_url" -X -At -c "select string_agg(version_num, ',') from alembic_version")"
  echo "pg_dump=$(pg_dump --version)"
  echo "host=$(hostname)"
} > "$dir/INFO"

(cd "$dir" && sha256sum database.dump uploads.tar uploads.sha256 INFO > MANIFEST.sha256)
echo "$dir"
