"""Finished runs, written in batches: the executor's threads only queue what happened, and the
scheduling loop writes everything queued since its last tick in the tick's own transaction,
so thousands of runs a second cost a few commits and the scheduler is one writer."""
import json
import queue

from sqlalchemy import bindparam, insert, update

from dispatcher.lib import store


class RunRecorder:
    """A queue of run outcomes, flushed by the scheduler's loop."""

    def __init__(self):
        self._queue = queue.SimpleQueue()

    def finish(self, run_id, status, at, result=None, error=None):
        """Queue the outcome of a run (any thread); the next tick, at most a poll interval
        away, writes it."""
        self._queue.put((run_id, status, at, result, error))

    def drain(self, limit=10_000):
        items = []
        while len(items) < limit:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    @staticmethod
    def write(conn, items):
        """Record ``items`` (from :meth:`drain`) in the caller's transaction."""
        if not items:
            return
        runs = store.runs
        # Bound names differ from the column names, which SQLAlchemy reserves for SET.
        conn.execute(update(runs).where(runs.c.id == bindparam("rid")).values(
            status=bindparam("b_status"), finished_at=bindparam("at"), result=bindparam("b_result"),
            error=bindparam("b_error")), [
            {"rid": run_id, "at": at, "b_status": status, "b_error": error,
             "b_result": json.dumps(result) if result is not None else None}
            for run_id, status, at, result, error in items])
        conn.execute(insert(store.run_events), [
            {"run_id": run_id, "status": status, "at": at, "message": error}
            for run_id, status, at, result, error in items])
