"""OpenStack (Nova) through libcloud's OpenStack driver."""
import re

from libcloud import pricing
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

from dispatcher.errors import SettingsError

from . import GenericDriver

DEFAULT_AUTH_VERSION = "3.x_password"
# libcloud appends its own "/v2.0/tokens" or "/v3/auth/tokens" to the auth URL, so the version
# segment that ends an OS_AUTH_URL ("https://keystone:5000/v3") must go, or it is doubled.
_VERSION_SEGMENT = re.compile(r"/v(?P<version>2\.0|3(?:\.\d+)?)/*$")


def identity_params(extra):
    """``extra`` with the auth URL stripped of its version segment and the auth version decided.

    No ``ex_force_auth_version``: Keystone v3 with a password, unless the URL ends in ``/v2.0``.
    """
    params = dict(extra)
    url = params.get("ex_force_auth_url")
    version = None
    if isinstance(url, str):
        found = _VERSION_SEGMENT.search(url)
        if found:
            params["ex_force_auth_url"] = url[:found.start()]
            version = found.group("version")
    if not params.get("ex_force_auth_version"):
        params["ex_force_auth_version"] = "2.0_password" if version == "2.0" else DEFAULT_AUTH_VERSION
    return params


class OpenStackDriver(GenericDriver):
    """``USER``/``PASSWORD`` are the identity credentials; ``EXTRA_PARAMS`` carries the
    ``ex_force_*`` options (auth URL and version, service name, region) and, for Keystone v3,
    ``ex_tenant_name`` (the project) and ``ex_domain_name`` (the user's domain)."""

    required_credentials = ("USER", "PASSWORD")

    @classmethod
    def check_settings(cls, name, creds):
        super().check_settings(name, creds)
        params = identity_params(creds.get("EXTRA_PARAMS") or {})
        # libcloud's v3 password login scopes its token to a project by default; without one it
        # would fail on the first request, with a message that names no setting. (An entry with
        # no auth URL at all fails there too, as it always has.)
        if (params.get("ex_force_auth_url") and params["ex_force_auth_version"] == "3.x_password"
                and not params.get("ex_tenant_name") and params.get("ex_token_scope", "project") == "project"):
            raise SettingsError(f"cloud {name!r}: EXTRA_PARAMS ex_tenant_name is required by Keystone v3 "
                                f"(the project to work in; or set ex_force_auth_version for another identity API)")

    def libcloud_class(self):
        return get_driver(Provider.OPENSTACK)

    def connect(self, **kwargs):
        params = {**identity_params(self.extra), **kwargs}
        driver = self.libcloud_class()(self.user, self.password, **params)
        # libcloud has no prices for OpenStack; without a (empty) table it re-reads and parses
        # its 2 MB pricing.json for every flavor that list_sizes converts (~60 ms each).
        if driver.api_name not in pricing.PRICING_DATA["compute"]:
            pricing.set_pricing("compute", driver.api_name, {})
        return driver

