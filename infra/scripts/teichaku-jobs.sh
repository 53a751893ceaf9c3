#!/usr/bin/env bash
# The background processes' command lines, in one place: `make run` (run-dev.sh), the systemd
# units, the container and the tests all start the worker and the scheduler through this script.
#   teichaku-jobs.sh worker [rq worker options...]   an RQ worker on the queue ${RQ_QUEUE:-teichaku}
#   teichaku-jobs.sh scheduler                       the periodic jobs (exactly one per installation)
# Redis: REDIS_URL, or the master REDIS_SENTINELS name (infra/rq_settings.py).  Both use RQ's JSON
# serializer: the scheduler is teichaku.workers.scheduler, not `rq cron` (which enqueues pickle).
set -eu
cd "$(dirname "$0")/../.."
BIN=.venv/bin
role="${1:-}"
[ $# -gt 0 ] && shift
case "$role" in
  worker)
    exec $BIN/rq worker -c infra.rq_settings -w teichaku.workers.worker.TeichakuWorker \
        --serializer json --with-scheduler "$@" "${RQ_QUEUE:-teichaku}" ;;
  scheduler)
    # RQ reads cron expressions in the process's local time; the schedule (workers/cron.py) is
    # written in UTC, so a server set to Japan time must not shift the nightly jobs by 9 hours.
    TZ=UTC exec $BIN/python -m teichaku.workers.scheduler -c infra.rq_settings teichaku.workers.cron ;;
  *)
    echo "usage: $0 worker [rq worker options...] | scheduler" >&2
    exit 2 ;;
esac
