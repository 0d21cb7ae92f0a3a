"""Job actions: alias -> action class, resolved lazily.

Built-in aliases map to ``(module, class)`` and are imported on first use, as libcloud's
``get_driver`` does. A package adds (or replaces) an alias through the ``orchestrator.actions``
entry-point group (``alias = "package.module:ActionClass"``), as it does drivers through
``orchestrator.drivers``. The scheduler stores what :func:`validate_action` returns and, at
each fire time, runs ``get_action(action["type"])(action).run(context)``.
"""
from collections.abc import Mapping
from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points

from dispatcher.lib.actions.base import Action, ActionFailed, RunContext, invalid

__all__ = ["ACTIONS", "Action", "ActionFailed", "RunContext", "UnknownAction", "get_action",
           "known_aliases", "validate_action"]

ENTRY_POINT_GROUP = "orchestrator.actions"

ACTIONS = {
    "url": ("dispatcher.lib.actions.url", "UrlAction"),
    "method": ("dispatcher.lib.actions.method", "MethodAction"),
    "provision": ("dispatcher.lib.actions.provision", "ProvisionAction"),
    "ping": ("dispatcher.lib.actions.nodes", "PingAction"),
    "reboot": ("dispatcher.lib.actions.nodes", "RebootAction"),
    "destroy": ("dispatcher.lib.actions.nodes", "DestroyAction"),
}


class UnknownAction(LookupError):
    """No built-in action nor plugin answers to this alias; ``known`` lists those that do."""

    def __init__(self, alias, known):
        super().__init__(f"unknown action {alias!r} (known: {', '.join(known)})")
        self.alias = alias
        self.known = known


@lru_cache(maxsize=1)
def plugin_actions():
    """Entry points of the ``orchestrator.actions`` group, by alias."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_aliases():
    """Every alias an action's ``type`` may take."""
    return sorted(set(ACTIONS) | set(plugin_actions()))


def get_action(alias):
    """The action class for ``alias``; :class:`UnknownAction` lists the known aliases."""
    if not isinstance(alias, str):
        raise UnknownAction(alias, known_aliases())
    plugin = plugin_actions().get(alias)
    if plugin is not None:
        cls = plugin.load()
    elif alias in ACTIONS:
        module, name = ACTIONS[alias]
        cls = getattr(import_module(module), name)
    else:
        raise UnknownAction(alias, known_aliases())
    if not (isinstance(cls, type) and issubclass(cls, Action)):
        raise TypeError(f"action {alias!r} resolves to {cls!r}, which is not an Action subclass")
    return cls


def validate_action(data, settings, clouds):
    """``{"type": alias, **params}`` normalised; :class:`ValidationFailed` (422) naming the field."""
    if not isinstance(data, Mapping):
        raise invalid({"action": ["must be a JSON object with a 'type'"]})
    alias = data.get("type")
    if alias is None:
        raise invalid({"action.type": [f"missing; one of: {', '.join(known_aliases())}"]})
    try:
        cls = get_action(alias)
    except UnknownAction as exc:
        raise invalid({"action.type": [str(exc)]}) from None
    params = {key: value for key, value in data.items() if key != "type"}
    return {"type": alias, **cls.validate(params, settings, clouds)}
