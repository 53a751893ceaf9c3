"""The RQ worker class: builds the app once, disposes the engine in every forked horse.

Run with ``rq worker -w teichaku.workers.worker.TeichakuWorker --serializer rq.serializers.JSONSerializer teichaku``.
"""
from __future__ import annotations

from rq import Worker

from .context import dispose_engine_after_fork, worker_app


class TeichakuWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        worker_app()  # build once in the parent, before any fork

    def main_work_horse(self, job, queue):
        dispose_engine_after_fork()
        return super().main_work_horse(job, queue)
