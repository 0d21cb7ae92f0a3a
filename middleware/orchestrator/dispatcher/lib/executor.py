"""Where runs execute: an interface, and the local bounded thread pool that implements it.

The scheduling loop only hands work over; a slow action occupies a pool thread, never the
loop. A distributed engine replaces :class:`LocalExecutor` by implementing :class:`Executor`.
"""
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor


class Executor(ABC):
    """Runs callables somewhere other than the scheduling loop."""

    @abstractmethod
    def submit(self, fn, *args):
        """Start ``fn(*args)``; must not block on its completion."""

    @abstractmethod
    def shutdown(self, wait=True):
        """Stop accepting work; with ``wait``, return once running work has finished."""


class LocalExecutor(Executor):
    """A bounded pool of threads in this process."""

    def __init__(self, max_workers=16):
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="orchestrator-run")

    def submit(self, fn, *args):
        self._pool.submit(fn, *args)

    def shutdown(self, wait=True):
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
