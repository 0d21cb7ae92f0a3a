"""Where notifications go: a registry of channels, each resolved on first use."""
from importlib import import_module

from dispatcher.lib.channels.base import Channel, DeliveryFailed

#: Channel name -> (module, class), imported when first asked for.
CHANNELS = {
    "webhook": ("dispatcher.lib.channels.webhook", "WebhookChannel"),
    "email": ("dispatcher.lib.channels.email", "EmailChannel"),
}


class UnknownChannel(LookupError):
    """A channel name that is not in :data:`CHANNELS`."""

    def __init__(self, name):
        super().__init__(f"unknown notification channel {name!r}; the channels are {', '.join(sorted(CHANNELS))}")


def get_channel(name):
    """The :class:`Channel` class of ``name``."""
    try:
        module, cls = CHANNELS[name]
    except KeyError:
        raise UnknownChannel(name) from None
    return getattr(import_module(module), cls)


__all__ = ["CHANNELS", "Channel", "DeliveryFailed", "UnknownChannel", "get_channel"]
