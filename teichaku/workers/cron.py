"""The periodic schedule: one list, read by the scheduler (``teichaku.workers.scheduler``, started
by ``infra/scripts/teichaku-jobs.sh scheduler``) and by the health report (``workers.periodic``).

The module is also an RQ cron configuration (``rq.cron.register`` below), which is how the
scheduler loads it; RQ's own ``rq cron`` must not run it: it enqueues pickled jobs that the JSON
worker cannot read (issue #12).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from flask_babel import lazy_gettext as _l
from rq import cron

from ..crosstenant.aggregates.jobs import REBUILD_TIMEOUT_SECONDS, rebuild_rollups, sweep_dirty_slices
from ..crosstenant.notifications.delivery import sweep_outbox
from ..platform.jobs import QUEUE_NAME
from .jobs import purge_expired_sessions, raise_deadline_reminders, review_retention, send_transfer_reminders


@dataclass(frozen=True)
class Periodic:
    """A job the scheduler enqueues on a cron schedule (RQ reads the fields as server-local time)."""

    func: Callable[..., Any]
    cron: str
    label: Any  # Japanese (translated lazily), for the operator's page
    options: dict = field(default_factory=dict)  # RQ job options: job_timeout, failure_ttl

    @property
    def name(self) -> str:
        return self.func.__name__


# One list of periodic jobs.
PERIODIC_JOBS: tuple[Periodic, ...] = (
    Periodic(purge_expired_sessions, "17 * * * *", _l("期限切れのセッションとトークンの削除")),
    Periodic(raise_deadline_reminders, "5 21 * * *", _l("釈放日・フォローアップ日のリマインダー")),  # 06:05 Japan time (21:05 UTC)
    Periodic(send_transfer_reminders, "35 21 * * *", _l("広域調整の期限のリマインダー")),  # 06:35 Japan time: 広域調整 deadlines
    # The notification outbox: re-enqueue whatever was not delivered (see crosstenant/notifications).
    Periodic(sweep_outbox, "* * * * *", _l("未配信のお知らせの再送"), {"failure_ttl": 24 * 3600}),
    # National aggregates: recompute dirty slices whose job was lost; a full rebuild every night that
    # must reproduce the rollups exactly (see crosstenant/aggregates).
    Periodic(sweep_dirty_slices, "* * * * *", _l("全国集計の再計算漏れの処理"), {"failure_ttl": 24 * 3600}),
    Periodic(rebuild_rollups, "15 18 * * *", _l("全国集計の毎晩の再構築"), {"job_timeout": REBUILD_TIMEOUT_SECONDS}),  # 03:15 JST
    # Retention: monthly, on the 2nd at 05:45 Japan time (20:45 UTC on the 1st); running it twice
    # lists nobody twice (crosstenant/retention).
    Periodic(review_retention, "45 20 1 * *", _l("保存期間の毎月の見直し")),
)

for _periodic in PERIODIC_JOBS:
    cron.register(_periodic.func, QUEUE_NAME, cron=_periodic.cron, **_periodic.options)
