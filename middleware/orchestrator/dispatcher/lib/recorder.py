"""Starts and ends of runs, written in batches: the executor's threads only queue what
happened, and the scheduling loop writes what is queued in its ticks' own transactions (not
while runs claimed ahead are starting, a second at most), so thousands of runs a second cost a
few commits and the scheduler is one writer."""
import queue
import time

STARTED = object()  # the kind of an entry that says when a run claimed ahead actually began


class RunRecorder:
    """A queue of run starts and outcomes, flushed by the scheduler's loop."""

    def __init__(self):
        self._queue = queue.SimpleQueue()
        self._since = None  # when the oldest entry not drained yet was queued (time.monotonic())

    def started(self, run, at):
        """Queue when ``run``, claimed ahead as Running with its planned start, actually began."""
        self._put((run, STARTED, at, None, None))

    def finish(self, run, status, at, result=None, error=None):
        """Queue the outcome of ``run`` (any thread); a coming tick of the loop writes it."""
        self._put((run, status, at, result, error))

    def _put(self, item):
        if self._since is None:
            self._since = time.monotonic()
        self._queue.put(item)

    def waited(self):
        """Seconds the oldest entry not drained yet has waited; 0 when there is none."""
        since = self._since
        return 0.0 if since is None else time.monotonic() - since

    def drain(self, limit=10_000):
        self._since = None
        items = []
        while len(items) < limit:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not self._queue.empty():
            self._since = time.monotonic()  # what is left waits from now on
        return items

    @staticmethod
    def write(tx, items):
        """Record ``items`` (from :meth:`drain`) in the data store transaction ``tx``: the starts
        first, so that a run's start is written before (or with) its end."""
        tx.record_starts([(run, at) for run, kind, at, _, _ in items if kind is STARTED])
        tx.finish_runs([item for item in items if item[1] is not STARTED])
