"""A driver plugin: adds the ``example`` ENGINE label without touching Orchestrator's code.

It serves an in-memory cloud (Orchestrator's Dummy cloud, under another name) so the tests can
drive it end to end; a real plugin would return its provider's libcloud driver from connect().
"""
from dispatcher.lib.cloud_factory.drivers import GenericDriver
from dispatcher.lib.cloud_factory.drivers.dummy import DummyNodeDriver


class ExampleNodeDriver(DummyNodeDriver):
    name = "Example Cloud"


class ExampleDriver(GenericDriver):
    """``USER`` is the region to serve; ``EXTRA_PARAMS`` as the Dummy cloud's."""

    required_credentials = ("USER",)
    shared = True  # an in-memory cloud: every request must see the same instance

    def libcloud_class(self):
        return ExampleNodeDriver

    def connect(self, **kwargs):
        kwargs.pop("timeout", None)
        return ExampleNodeDriver(self.user, **self.extra)
