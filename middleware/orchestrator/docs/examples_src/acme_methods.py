"""A method for ``method`` jobs, the worked example of "Registering methods".

Importing this module registers ``acme.count_nodes``; an installed package can declare the
same function in its ``orchestrator.methods`` entry points instead. ``tests/test_docs.py``
runs this module: keep the two in step.
"""
from fnmatch import fnmatchcase

from dispatcher.lib.actions import ActionFailed
from dispatcher.lib.actions.method import register_method


@register_method("acme.count_nodes")
def count_nodes(context, cloud="default", name="*", at_least=0):
    """Count the nodes of ``cloud`` named like the glob ``name``; fail when fewer than ``at_least``.

    A method runs with the service's own access to every cloud, so it limits itself to the
    nodes of the job's account, as the built-in actions do (the administrator sees them all).
    """
    owned = None if context.is_admin else context.owners.owned(cloud, context.account_id)
    names = sorted(node.name for node in context.clouds.get(cloud).nodes()
                   if fnmatchcase(node.name, name) and (owned is None or node.id in owned))
    if len(names) < at_least:
        raise ActionFailed(f"{len(names)} nodes of cloud {cloud!r} match {name!r}, fewer than {at_least}",
                           {"cloud": cloud, "count": len(names), "names": names})
    return {"cloud": cloud, "count": len(names), "names": names}
