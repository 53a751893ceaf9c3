#!/usr/bin/env bash
# `flask --app wsgi ...` the way the services run: as the service user, with the production
# environment, from the install directory.  For the operator and the cron jobs:
#   /opt/teichaku/app/infra/scripts/teichaku-cli.sh audit verify
#   /opt/teichaku/app/infra/scripts/teichaku-cli.sh users create --email ... --role platform_admin ...
# TEICHAKU_ENV_FILE (default /etc/teichaku/teichaku.env) and TEICHAKU_USER (default teichaku)
# change where the environment comes from and whom the command runs as.
set -euo pipefail
env_file="${TEICHAKU_ENV_FILE:-/etc/teichaku/teichaku.env}"
user="${TEICHAKU_USER:-teichaku}"
app_dir="$(cd "$(dirname "$0")/../.." && pwd)"

if [ "$(id -un)" != "$user" ]; then
  # runuser (util-linux) is on every Debian; it needs root, as sudo would.
  exec runuser -u "$user" -- env TEICHAKU_ENV_FILE="$env_file" TEICHAKU_USER="$user" "$0" "$@"
fi
set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
cd "$app_dir"
exec .venv/bin/flask --app wsgi "$@"
