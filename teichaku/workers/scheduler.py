"""The periodic-job scheduler: RQ's ``CronScheduler``, enqueueing JSON-serialised jobs.

Why not ``rq cron``: RQ 3.0's ``CronJob.enqueue`` builds its ``Queue`` without a serializer and
the CLI ignores ``--serializer``, so every job it enqueued was pickled and failed in our worker,
which reads JSON only (``DeserializationError``; issue #12).  Nothing here ever unpickles: the
subclass only changes how a due job is enqueued (our JSON queue, with the callbacks that record
its outcome, ``workers.periodic``).

Started by ``infra/scripts/teichaku-jobs.sh scheduler`` (``make run``, the systemd unit, the
container and the tests), which runs::

    python -m teichaku.workers.scheduler -c infra.rq_settings teichaku.workers.cron

``-c``/``-u`` name Redis exactly as for ``rq worker`` (RQ's own option handling).  Exactly one
scheduler per installation: it takes no lock, and two would enqueue every daily job twice.
"""
from __future__ import annotations

import logging
import os
import sys

import click
from rq.cli.helpers import pass_cli_config
from rq.cron import CronJob, CronScheduler, cron_job_registry
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL
from rq.job import Callback, Job
from rq.queue import Queue
from rq.serializers import JSONSerializer

from . import periodic

# Tests only (ignored in production): enqueue every registered job once when the scheduler
# starts, so that a test sees each job run without waiting for its time of day.
RUN_ALL_AT_START = "TEICHAKU_TEST_CRON_RUN_ALL_AT_START"


class JsonCronJob(CronJob):
    """A cron job enqueued JSON-serialised, its outcome recorded by RQ callbacks."""

    def enqueue(self, connection) -> Job:
        """As ``CronJob.enqueue`` (job, history and registry in one round trip), through a JSON
        queue, with the periodic job's name in the job's meta for the callbacks."""
        if not self.func:
            raise ValueError("CronJob has no function to enqueue")
        queue = Queue(self.queue_name, connection=connection, serializer=JSONSerializer)
        options = dict(self.job_options)
        options["meta"] = {**options.get("meta", {}), periodic.META_KEY: self.func.__name__}
        with connection.pipeline() as pipeline:
            job = queue.enqueue(self.func, args=self.args, kwargs=self.kwargs, **options, pipeline=pipeline,
                                on_success=Callback(periodic.record_success),
                                on_failure=Callback(periodic.record_failure))
            pipeline.zadd(self.job_history_key, {job.id: job.enqueued_at.timestamp()})
            pipeline.zremrangebyrank(self.job_history_key, 0, -(DEFAULT_CRON_JOB_HISTORY_LIMIT + 1))
            pipeline.expire(self.job_history_key, DEFAULT_CRON_JOB_HISTORY_TTL)
            cron_job_registry.add(self.name, pipeline, enqueue_timestamp=job.enqueued_at.timestamp())
            pipeline.execute()
        logging.getLogger(__name__).info("Enqueued job %s to queue %s", self.func.__name__, self.queue_name)
        return job


class TeichakuCronScheduler(CronScheduler):
    """``CronScheduler`` whose jobs are ``JsonCronJob``s; marks what it schedules (for the
    overdue report) at every pass."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.serializer = JSONSerializer

    def register(self, func, queue_name: str, **options) -> CronJob:
        cron_job = JsonCronJob(queue_name=queue_name, func=func, **options)
        self._cron_jobs.append(cron_job)
        self.log.info("Registered '%s.%s' to run on %s (%s)", func.__module__, func.__name__, queue_name,
                      options.get("cron") or f"every {options.get('interval')} s")
        return cron_job

    def enqueue_jobs(self) -> list[CronJob]:
        self._mark_scheduled()
        return super().enqueue_jobs()

    def _mark_scheduled(self) -> None:
        by_queue: dict[str, list[str]] = {}
        for job in self._cron_jobs:
            by_queue.setdefault(job.queue_name, []).append(job.func.__name__)
        for queue_name, names in by_queue.items():
            periodic.mark_scheduled(self.connection, queue_name, names)

    def enqueue_all_once(self) -> None:
        """Every registered job now, once (the test-only start-up option)."""
        for job in self._cron_jobs:
            job.enqueue(self.connection)

    def start(self):
        if run_all_at_start():
            self._mark_scheduled()
            self.enqueue_all_once()
        return super().start()


def run_all_at_start() -> bool:
    """The test-only switch: never in production, whatever the environment says."""
    return bool(os.environ.get(RUN_ALL_AT_START)) and os.environ.get("TEICHAKU_ENV", "development") != "production"


@click.command()
@click.option("--logging-level", "-l", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
              case_sensitive=False), default="INFO", show_default=True)
@click.argument("config_path")
@pass_cli_config
def main(cli_config, logging_level: str, config_path: str, **options) -> None:
    """Start the scheduler on the schedule module CONFIG_PATH (``teichaku.workers.cron``).
    Jobs are always JSON-serialised, whatever ``--serializer`` says (RQ's shared options)."""
    scheduler = TeichakuCronScheduler(connection=cli_config.connection, logging_level=logging_level)
    scheduler.load_config_from_file(config_path)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
