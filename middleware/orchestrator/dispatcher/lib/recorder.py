"""Starts and ends of runs, written in batches: the executor's threads only queue what
happened, and the scheduling loop writes everything queued since its last tick in the tick's
own transaction, so thousands of runs a second cost a few commits and the scheduler is one
writer."""
import queue

STARTED = object()  # the kind of an entry that says when a run claimed ahead actually began


class RunRecorder:
    """A queue of run starts and outcomes, flushed by the scheduler's loop."""

    def __init__(self):
        self._queue = queue.SimpleQueue()

    def started(self, run, at):
        """Queue when ``run``, claimed ahead as Running with its planned start, actually began."""
        self._queue.put((run, STARTED, at, None, None))

    def finish(self, run, status, at, result=None, error=None):
        """Queue the outcome of ``run`` (any thread); the next tick, at most a poll interval
        away, writes it."""
        self._queue.put((run, status, at, result, error))

    def drain(self, limit=10_000):
        items = []
        while len(items) < limit:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    @staticmethod
    def write(tx, items):
        """Record ``items`` (from :meth:`drain`) in the data store transaction ``tx``: the starts
        first, so that a run's start is written before (or with) its end."""
        tx.record_starts([(run, at) for run, kind, at, _, _ in items if kind is STARTED])
        tx.finish_runs([item for item in items if item[1] is not STARTED])
