#!/usr/bin/env bash
# `make run`: migrate, load the centers, create demo accounts, start the worker and the
# scheduler when Redis answers, and serve on 127.0.0.1:${PORT:-5000} until Ctrl-C.
set -eu
cd "$(dirname "$0")/../.."
BIN=.venv/bin
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
PORT="${PORT:-5000}"

$BIN/flask --app wsgi db upgrade
# The row-level security scope key of this environment (idempotent; see platform/scope_token.py).
$BIN/flask --app wsgi rls sync-key
$BIN/flask --app wsgi centers seed
if [ "${TEICHAKU_ENV:-development}" != "production" ]; then
  $BIN/flask --app wsgi demo seed
  # The case-study library starts with the source document's seven examples (idempotent).
  $BIN/flask --app wsgi exchange load-examples --moderator association@demo.teichaku.jp
fi

pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if $BIN/python -c "import redis,sys; sys.exit(0 if redis.Redis.from_url('$REDIS_URL', socket_connect_timeout=0.5).ping() else 1)" 2>/dev/null; then
  # The same command lines as the systemd units and the container (infra/scripts/teichaku-jobs.sh).
  infra/scripts/teichaku-jobs.sh worker & pids+=($!)
  infra/scripts/teichaku-jobs.sh scheduler & pids+=($!)
  echo "worker and scheduler started (Redis at $REDIS_URL)"
else
  echo "WARNING: Redis does not answer at $REDIS_URL: background jobs run in-process"
fi

echo "Teichaku: http://127.0.0.1:$PORT/ (ready when /healthz answers 200)"
$BIN/gunicorn --config infra/gunicorn.conf.py --bind "127.0.0.1:$PORT" wsgi:app
