"""The RQ worker class: builds the app once, disposes the engine in every forked horse.

Run with ``rq worker -w teichaku.workers.worker.TeichakuWorker --serializer rq.serializers.JSONSerializer teichaku``.
"""
from __future__ import annotations

import gc

from rq import Worker

from .context import dispose_engine_after_fork, worker_app


class TeichakuWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        worker_app()  # build once in the parent, before any fork
        # The app's objects are shared with every forked horse.  Frozen, the garbage collector
        # leaves them alone there; otherwise a collection in the horse touches the whole heap and
        # copies it page by page (about 0.1 s per job on 2 cores, measured by make bench).
        gc.collect()
        gc.freeze()

    def main_work_horse(self, job, queue):
        dispose_engine_after_fork()
        return super().main_work_horse(job, queue)
