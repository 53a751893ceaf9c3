#!/bin/sh
# Run by the postgres image once, on an empty data directory, after 10-roles.sql: the two
# roles' passwords, read by psql from the environment (\getenv), so they appear in no file
# and no command line.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-psqlrc --dbname postgres <<'SQL'
\getenv owner_pw OWNER_DB_PASSWORD
\getenv app_pw APP_DB_PASSWORD
ALTER ROLE teichaku_owner PASSWORD :'owner_pw';
ALTER ROLE teichaku_app PASSWORD :'app_pw';
SQL
