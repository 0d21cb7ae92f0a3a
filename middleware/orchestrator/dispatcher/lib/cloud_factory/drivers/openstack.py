"""OpenStack (Nova) through libcloud's OpenStack driver."""
import logging
import re

from libcloud import pricing
from libcloud.common.exceptions import BaseHTTPError
from libcloud.common.openstack import OpenStackBaseConnection
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

from dispatcher.errors import SettingsError

from . import GenericDriver

log = logging.getLogger(__name__)

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
        for connection in list(vars(driver).values()):
            if isinstance(connection, OpenStackBaseConnection):
                resend_after_reauthentication(connection)
        return driver


def resend_after_reauthentication(connection):
    """Make ``connection`` send a request once more when the service answers it 401.

    A token revoked on the identity side (a password change, ``openstack token revoke``) is
    refused by every service, while libcloud still holds it until it expires: without this,
    each pooled connection would fail one call. libcloud drops the refused token as it raises
    (``OpenStackBaseConnection.request``), so the second send authenticates anew first.

    Safe for every method, POST included: a 401 comes from the service's authentication
    middleware, before the request is performed. Done per request, not per operation: an
    operation of several requests (``create_node`` posts, then reads the server back) must not
    repeat the ones that were performed. Once only: if the identity service then refuses the
    credentials, libcloud raises ``InvalidCredsError``, which is the answer.

    libcloud picks the driver class, hence its connection classes, by API version, so the
    constructed connections are wrapped rather than the classes subclassed.
    """
    if getattr(connection, "_ex_force_auth_token", None):
        return      # a token given in the settings: authenticating anew cannot replace it
    send = connection.request

    def request(*args, **kwargs):
        try:
            return send(*args, **kwargs)
        except BaseHTTPError as exc:
            if exc.code != 401:
                raise
            log.info("OpenStack %s refused our token: authenticating again", connection.host)
            return send(*args, **kwargs)

    connection.request = request
