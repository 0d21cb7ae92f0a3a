"""OpenStack (Nova) through libcloud's OpenStack driver."""
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

from . import GenericDriver


class OpenStackDriver(GenericDriver):
    """``USER``/``PASSWORD`` are the identity credentials; ``EXTRA_PARAMS`` carries the
    ``ex_force_*`` options (auth URL and version, service name, region, tenant)."""

    required_credentials = ("USER", "PASSWORD")

    def libcloud_class(self):
        return get_driver(Provider.OPENSTACK)

    def connect(self, **kwargs):
        params = {"ex_force_auth_version": "2.0_password", **self.extra, **kwargs}
        return self.libcloud_class()(self.user, self.password, **params)
