"""Run state changes, written in batches: one transaction for everything that happened since
the last flush, so thousands of runs a second cost a few commits, not thousands."""
import json
import logging
import queue
import threading

from sqlalchemy import bindparam, insert, update

from dispatcher.lib import store

log = logging.getLogger(__name__)


class RunRecorder:
    """Queues run transitions and flushes them from one thread."""

    def __init__(self, engine, max_batch=2000):
        self.engine = engine
        self.max_batch = max_batch
        self._queue = queue.Queue()
        self._thread = None
        self._idle = threading.Condition()
        self._pending = 0

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="orchestrator-recorder", daemon=True)
        self._thread.start()

    def stop(self):
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _put(self, item):
        with self._idle:
            self._pending += 1
        self._queue.put(item)

    def finish(self, run_id, status, at, result=None, error=None):
        self._put(("finish", run_id, at, status, result, error))

    def wait_idle(self, timeout=10.0):
        """Block until everything queued so far is committed (for shutdown and tests)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _loop(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            try:
                self._flush(batch)
            except Exception:  # keep recording later runs; this batch is logged, not lost silently
                log.exception("could not record %d run transitions", len(batch))
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _flush(self, batch):
        runs, events = store.runs, store.run_events
        # Bound names differ from the column names, which SQLAlchemy reserves for SET.
        finished = [{"rid": run_id, "at": at, "b_status": status,
                     "b_result": json.dumps(result) if result is not None else None, "b_error": error}
                    for kind, run_id, at, status, result, error in batch if kind == "finish"]
        rows = [{"run_id": run_id, "status": status, "at": at, "message": error}
                for kind, run_id, at, status, result, error in batch]
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == bindparam("rid"))
                             .values(status=bindparam("b_status"), finished_at=bindparam("at"),
                                     result=bindparam("b_result"), error=bindparam("b_error")), finished)
            conn.execute(insert(events), rows)
