"""A driver for Acme Cloud, the worked example of "Writing a driver for a new cloud".

Acme Cloud (a made-up provider) runs OpenStack. Its customers know it by region, not by
identity endpoint, and authenticate with Keystone v3 in a project, so a ``CLOUD_FARM`` entry
should read::

    "acme": {"ENGINE": "acme", "USER": "alice", "PASSWORD": "...",
             "EXTRA_PARAMS": {"region": "eu-west", "project": "web"}}

and this driver maps it onto libcloud's OpenStack driver arguments. ``tests/test_docs.py``
runs this module: keep the two in step.
"""
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider as LibcloudProvider

from dispatcher.errors import SettingsError
from dispatcher.lib.cloud_factory.drivers import GenericDriver

#: Acme's identity (Keystone) endpoint in each of its regions.
REGIONS = {
    "eu-west": "https://identity.eu-west.acme.example:5000",
    "us-east": "https://identity.us-east.acme.example:5000",
}


class AcmeDriver(GenericDriver):
    """Acme Cloud. ``USER``/``PASSWORD``: the Acme login; ``EXTRA_PARAMS``: ``region`` (one of
    :data:`REGIONS`), ``project`` (default: the login's name) and, as for any OpenStack cloud,
    libcloud's ``ex_force_*`` options, which win over what the region implies."""

    required_credentials = ("USER", "PASSWORD")

    @classmethod
    def check_settings(cls, name, creds):
        """Refuse, at start, an entry this driver could not connect with: name the cloud and the key."""
        super().check_settings(name, creds)
        region = (creds.get("EXTRA_PARAMS") or {}).get("region")
        if region not in REGIONS:
            raise SettingsError(f"cloud {name!r}: EXTRA_PARAMS region must be one of "
                                f"{', '.join(sorted(REGIONS))}, not {region!r}")

    def libcloud_class(self):
        return get_driver(LibcloudProvider.OPENSTACK)

    def connect(self, **kwargs):
        """A new libcloud driver for this cloud; ``kwargs`` (the cloud's ``timeout``) win over ours.

        libcloud's OpenStack driver takes ``timeout`` itself; for one that does not, pop it and
        apply it with :func:`~dispatcher.lib.cloud_factory.drivers.with_timeout`.
        """
        extra = dict(self.extra)
        region = extra.pop("region")
        project = extra.pop("project", self.user)
        params = {
            "ex_force_auth_url": REGIONS[region],
            "ex_force_auth_version": "3.x_password",
            "ex_force_service_region": region,
            "ex_tenant_name": project,
            "ex_domain_name": "Default",
            **extra,
            **kwargs,
        }
        return self.libcloud_class()(self.user, self.password, **params)
