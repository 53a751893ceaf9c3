-- Teichaku: the database and its two roles.  Run once per server (and again at will: it is
-- idempotent) as a PostgreSQL superuser, before the first `flask --app wsgi db upgrade`:
--
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -f infra/postgres/roles.sql
--   sudo -u postgres psql -v ON_ERROR_STOP=1 -v dbname=teichaku_staging -f infra/postgres/roles.sql
--
-- Variables (psql -v NAME=VALUE), with their defaults:
--   owner   teichaku_owner  the schema owner: owns the database and every table, runs the
--                           migrations and the CLI (DATABASE_URL).
--   app     teichaku_app    the web app and the RQ workers (APP_DATABASE_URL, APP_DB_ROLE).
--   dbname  teichaku        the database, created owned by `owner` when missing.
--
-- No password is set here, so none lands in a file or the shell history.  Set them with psql's
-- \password (it hashes on the client side) and put them into /etc/teichaku/teichaku.env:
--   sudo -u postgres psql -c '\password teichaku_owner' -c '\password teichaku_app'

\if :{?owner}
\else
  \set owner teichaku_owner
\endif
\if :{?app}
\else
  \set app teichaku_app
\endif
\if :{?dbname}
\else
  \set dbname teichaku
\endif

-- CREATE ROLE and CREATE DATABASE have no IF NOT EXISTS: build the statement only when missing.
SELECT format('CREATE ROLE %I LOGIN', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec

-- The owner: not a superuser, but BYPASSRLS.  Row-level security is FORCEd on every tenant
-- table (even for the owner), and `audit verify`, backups (pg_dump) and the operator's commands
-- must see every center.  NOCREATEROLE: the roles are made here, not by the migrations.
ALTER ROLE :"owner" LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;

-- The application role: owns nothing, cannot bypass the policies.  The app refuses to start
-- as anything else (teichaku/platform/database.py::check_app_connection).  Its table
-- privileges come from the migrations (teichaku/platform/rls.py::grant): SELECT, INSERT,
-- UPDATE, DELETE on tenant tables, only SELECT and INSERT on the audit log.
ALTER ROLE :"app" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'dbname', :'owner', 'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \gexec

-- Only the two roles may connect.  In PostgreSQL 15 the public schema is owned by the
-- database owner and PUBLIC may not create in it, so the application role cannot add tables.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
-- No TEMPORARY: a temporary table planted by injected SQL would shadow a real one on a pooled
-- connection (migration h4rden0006 revokes it on existing databases too).
GRANT CONNECT ON DATABASE :"dbname" TO :"app";
\connect :"dbname"
GRANT USAGE ON SCHEMA public TO :"app";
