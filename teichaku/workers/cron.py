"""The periodic schedule, read by ``rq cron teichaku.workers.cron`` (RQ's built-in scheduler)."""
from __future__ import annotations

from rq import cron

from ..crosstenant.aggregates.jobs import REBUILD_TIMEOUT_SECONDS, rebuild_rollups, sweep_dirty_slices
from ..crosstenant.notifications.delivery import sweep_outbox
from .jobs import purge_expired_sessions, raise_deadline_reminders, review_retention, send_transfer_reminders
from .queue import QUEUE_NAME

# One list of periodic jobs.
cron.register(purge_expired_sessions, QUEUE_NAME, cron="17 * * * *")
cron.register(raise_deadline_reminders, QUEUE_NAME, cron="5 21 * * *")  # 06:05 Japan time (21:05 UTC)
cron.register(send_transfer_reminders, QUEUE_NAME, cron="35 21 * * *")  # 06:35 Japan time: 広域調整 deadlines
# The notification outbox: re-enqueue whatever was not delivered (see crosstenant/notifications).
cron.register(sweep_outbox, QUEUE_NAME, cron="* * * * *", failure_ttl=24 * 3600)
# National aggregates: recompute dirty slices whose job was lost; a full rebuild every night that
# must reproduce the rollups exactly (see crosstenant/aggregates).
cron.register(sweep_dirty_slices, QUEUE_NAME, cron="* * * * *", failure_ttl=24 * 3600)
cron.register(rebuild_rollups, QUEUE_NAME, cron="15 18 * * *", job_timeout=REBUILD_TIMEOUT_SECONDS)  # 03:15 JST
# Retention: monthly, on the 2nd at 05:45 Japan time (20:45 UTC on the 1st); running it twice
# lists nobody twice (tenants/retention).
cron.register(review_retention, QUEUE_NAME, cron="45 20 1 * *")
