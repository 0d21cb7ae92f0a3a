"""OpenStack (Nova) through libcloud's OpenStack driver."""
from libcloud import pricing
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
        driver = self.libcloud_class()(self.user, self.password, **params)
        # libcloud has no prices for OpenStack; without a (empty) table it re-reads and parses
        # its 2 MB pricing.json for every flavor that list_sizes converts (~60 ms each).
        if driver.api_name not in pricing.PRICING_DATA["compute"]:
            pricing.set_pricing("compute", driver.api_name, {})
        return driver
