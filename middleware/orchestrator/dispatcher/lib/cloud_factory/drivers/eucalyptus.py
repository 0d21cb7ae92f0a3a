"""Eucalyptus, and any EC2-compatible endpoint, through libcloud's Eucalyptus driver."""
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

from . import GenericDriver, with_timeout


class EucalyptusDriver(GenericDriver):
    """``USER`` is the access key, ``PASSWORD`` the secret key; ``EXTRA_PARAMS`` gives the
    endpoint: ``host``, ``port``, ``secure`` and ``path`` (default ``/services/Eucalyptus``)."""

    required_credentials = ("USER", "PASSWORD")
    unsupported = frozenset({"list_locations"})  # EucNodeDriver defines it only to raise

    def libcloud_class(self):
        return get_driver(Provider.EUCALYPTUS)

    def connect(self, **kwargs):
        # libcloud's Eucalyptus driver takes the endpoint as explicit arguments; the
        # settings keep the shape of every other cloud, so they are mapped here.
        params = {"secure": True, "path": "/services/Eucalyptus", **self.extra, **kwargs}
        timeout = params.pop("timeout", None)  # EucNodeDriver.__init__ takes none
        return with_timeout(self.libcloud_class()(self.user, self.password, **params), timeout)
