#!/usr/bin/env bash
# The test suite talks to PostgreSQL and Redis for real.  If one is down, try its local start
# command once, then fail naming it.  Never skip tests because a service is missing.
set -u
pg_up()    { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; trying to start it once" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start 2>&1 || true
  for _ in $(seq 1 20); do pg_up && break; sleep 0.5; done
  pg_up || { echo "FAILED: PostgreSQL (127.0.0.1:5432) is down and did not start" >&2; exit 1; }
fi
if ! redis_up; then
  echo "Redis is not answering on 127.0.0.1:6379; trying to start it once" >&2
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log 2>&1 || true
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
  redis_up || { echo "FAILED: Redis (127.0.0.1:6379) is down and did not start" >&2; exit 1; }
fi
echo "services: PostgreSQL and Redis answer" >&2
