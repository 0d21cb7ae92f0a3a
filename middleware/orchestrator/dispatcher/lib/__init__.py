"""Provider labels: the ENGINE values of ``CLOUD_FARM``.

The four providers the middleware ships a driver class for. Every other libcloud compute
provider is accepted by its libcloud label (``libcloud.compute.types.Provider``) and served by
:class:`~dispatcher.lib.cloud_factory.drivers.GenericDriver`.
"""
from enum import Enum


class Provider(str, Enum):
    """A cloud engine label; compares equal to the plain string libcloud uses."""

    DUMMY = "dummy"
    OPENSTACK = "openstack"
    EUCALYPTUS = "eucalyptus"
    RACKSPACE = "rackspace"

    def __str__(self):
        return self.value


DUMMY = Provider.DUMMY
OPENSTACK = Provider.OPENSTACK
EUCALYPTUS = Provider.EUCALYPTUS
RACKSPACE = Provider.RACKSPACE
