"""A notification channel: one abstract method, :meth:`Channel.send`."""
from abc import ABC, abstractmethod


class DeliveryFailed(Exception):
    """One attempt failed; ``retry`` says whether another attempt may do better."""

    def __init__(self, message, retry=True):
        super().__init__(message)
        self.message = message
        self.retry = retry


class Channel(ABC):
    """Sends notices to one kind of target (its alias is ``name``)."""

    name = None

    @abstractmethod
    def send(self, target, body, delivery_id):
        """Deliver ``body`` (a notice, see :func:`dispatcher.lib.notices.message`) to ``target``
        once; raise :class:`DeliveryFailed` when it did not arrive."""
