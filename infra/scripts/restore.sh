#!/usr/bin/env bash
# Restore a backup made by backup.sh into an EMPTY database and an empty upload directory, and
# prove it whole: the manifest's sums are checked before anything is written, every uploaded
# file's sum after unpacking, and the audit chains at the end (`flask --app wsgi audit verify`).
#
#   infra/scripts/restore.sh BACKUP_DIR
#
# Environment:
#   DATABASE_URL   the schema owner on the target database (it ends up owning every object)
#   UPLOAD_ROOT    where the documents go (missing or empty)
#   PG_ADMIN_URL   optional, a superuser: first create the roles and the database when missing
#                  (infra/postgres/roles.sql); without it they must exist already
#   APP_DB_ROLE    the application role the dump's grants name (default teichaku_app)
# Run from the code of the same release as the backup (INFO's schema_revision) or newer; after
# a newer release's code, `flask --app wsgi db upgrade` brings the schema up to it.
set -euo pipefail

backup="$(cd "${1:?usage: restore.sh BACKUP_DIR}" && pwd)"
: "${DATABASE_URL:?DATABASE_URL (the schema owner, target database) must be set}"
: "${UPLOAD_ROOT:?UPLOAD_ROOT must be set}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
py="$repo/.venv/bin/python"
db_url="${DATABASE_URL/postgresql+psycopg:/postgresql:}"
fail() { echo "restore FAILED: $*" >&2; exit 1; }

# 1. Nothing is written unless every file is what the backup wrote.
(cd "$backup" && sha256sum --check --quiet --strict MANIFEST.sha256 >&2) \
  || fail "$backup does not match its MANIFEST.sha256 (damaged or altered backup)"

# 2. Roles and database, when a superuser URL is given.
if [ -n "${PG_ADMIN_URL:-}" ]; then
  target=$("$py" -c 'import sys; from sqlalchemy.engine import make_url
u = make_url(sys.argv[1]); print(u.username, u.database)' "$db_url")
  read -r owner dbname <<< "$target"
  psql "${PG_ADMIN_URL/postgresql+psycopg:/postgresql:}" -X -q -v ON_ERROR_STOP=1 \
       -v owner="$owner" -v app="${APP_DB_ROLE:-teichaku_app}" -v dbname="$dbname" \
       -f "$repo/infra/postgres/roles.sql" >/dev/null
fi

# 3. Only into emptiness: never merge a backup into live data.
tables=$(psql "$db_url" -X -At -c "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'p')")
[ "$tables" = "0" ] || fail "the target database already has $tables tables"
mkdir -p "$UPLOAD_ROOT"
[ -z "$(ls -A "$UPLOAD_ROOT")" ] || fail "UPLOAD_ROOT ($UPLOAD_ROOT) is not empty"

# 4. The database, all or nothing.  --no-owner: objects belong to the restoring owner, whatever
# the old installation called its owner; the grants to the application role are kept.
pg_restore --dbname="$db_url" --no-owner --exit-on-error --single-transaction "$backup/database.dump"

# 5. The documents, each checked against its sum from the backup.
umask 077
tar --extract --file="$backup/uploads.tar" --directory="$UPLOAD_ROOT" --no-same-owner
if [ -s "$backup/uploads.sha256" ]; then  # empty when no document had been uploaded
  (cd "$UPLOAD_ROOT" && sha256sum --check --quiet --strict "$backup/uploads.sha256" >&2) \
    || fail "uploaded files differ from uploads.sha256 after unpacking"
fi

# 6. The audit chains: every entry present and unaltered (exit 1 otherwise).
cd "$repo"
DATABASE_URL="$DATABASE_URL" UPLOAD_ROOT="$UPLOAD_ROOT" .venv/bin/flask --app wsgi audit verify \
  || fail "audit verify found the restored audit log altered"
echo "restored $backup into the database and $UPLOAD_ROOT; audit chains verified"
