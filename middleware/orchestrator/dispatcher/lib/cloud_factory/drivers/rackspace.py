"""Rackspace Cloud Servers (next generation) through libcloud's Rackspace driver."""
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

from . import GenericDriver


class RackspaceDriver(GenericDriver):
    """``USER`` is the account name, ``PASSWORD`` its API key; ``EXTRA_PARAMS`` may name the
    ``region`` (default ``ord``) and ``ex_force_*`` endpoints."""

    required_credentials = ("USER", "PASSWORD")

    def libcloud_class(self):
        return get_driver(Provider.RACKSPACE)

    def connect(self, **kwargs):
        params = {"region": "ord", **self.extra, **kwargs}
        return self.libcloud_class()(self.user, self.password, **params)
