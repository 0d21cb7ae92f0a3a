"""Provider label -> driver class.

Resolved lazily, as libcloud's ``get_driver`` does: the four named providers map to our
classes; a package may add or replace a label through the ``orchestrator.drivers`` entry-point
group (``label = "package.module:DriverClass"``); every other libcloud compute provider is
served by :class:`~dispatcher.lib.cloud_factory.drivers.GenericDriver`.
"""
from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points

from libcloud.compute.providers import DRIVERS as LIBCLOUD_DRIVERS

from dispatcher.errors import UnknownProvider
from dispatcher.lib import Provider

ENTRY_POINT_GROUP = "orchestrator.drivers"

DRIVERS = {
    Provider.DUMMY: ("dispatcher.lib.cloud_factory.drivers.dummy", "DummyDriver"),
    Provider.OPENSTACK: ("dispatcher.lib.cloud_factory.drivers.openstack", "OpenStackDriver"),
    Provider.EUCALYPTUS: ("dispatcher.lib.cloud_factory.drivers.eucalyptus", "EucalyptusDriver"),
    Provider.RACKSPACE: ("dispatcher.lib.cloud_factory.drivers.rackspace", "RackspaceDriver"),
}
GENERIC = ("dispatcher.lib.cloud_factory.drivers", "GenericDriver")


@lru_cache(maxsize=1)
def plugin_drivers():
    """Entry points of the ``orchestrator.drivers`` group, by label."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_labels():
    """Every label a cloud's ENGINE may take."""
    return sorted({str(label) for label in DRIVERS} | set(plugin_drivers()) | {str(p) for p in LIBCLOUD_DRIVERS})


def get_driver_class(label):
    """The driver class for ``label``; :class:`UnknownProvider` lists the known labels."""
    label = str(label)
    plugin = plugin_drivers().get(label)
    if plugin is not None:
        return plugin.load()
    if label in DRIVERS:
        module, name = DRIVERS[label]
    elif label in {str(p) for p in LIBCLOUD_DRIVERS}:
        module, name = GENERIC
    else:
        raise UnknownProvider(f"unknown provider {label!r}", {"known": known_labels()})
    return getattr(import_module(module), name)
