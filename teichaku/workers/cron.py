"""The periodic schedule, read by ``rq cron teichaku.workers.cron`` (RQ's built-in scheduler)."""
from __future__ import annotations

from rq import cron

from .jobs import purge_expired_sessions, raise_deadline_reminders
from .queue import QUEUE_NAME

# One list of periodic jobs.
cron.register(purge_expired_sessions, QUEUE_NAME, cron="17 * * * *")
cron.register(raise_deadline_reminders, QUEUE_NAME, cron="5 21 * * *")  # 06:05 Japan time (21:05 UTC)
