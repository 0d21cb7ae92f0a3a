"""Layered configuration: defaults, the operator's settings file, the environment, overrides."""
import copy
import os
import runpy

from flask import current_app, has_app_context

from dispatcher import settings as defaults
from dispatcher.errors import SettingsError

SETTINGS_ENV = "ORCHESTRATOR_SETTINGS"
ENVIRONMENT_NAMES = ("DATABASE_URL", "ORCHESTRATOR_ADMIN_KEY")


def _public_names(namespace):
    """The upper-case names of a module or settings file, plus ``CloudConfig.CLOUD_FARM``."""
    found = {key: value for key, value in namespace.items() if key.isupper()}
    cloud_config = namespace.get("CloudConfig")
    if cloud_config is not None and hasattr(cloud_config, "CLOUD_FARM"):
        found["CLOUD_FARM"] = cloud_config.CLOUD_FARM
    return found


def load_config(overrides=None, environ=None):
    """Return the settings as a dict, each layer overriding the one before it."""
    environ = os.environ if environ is None else environ
    config = copy.deepcopy(_public_names(vars(defaults)))
    path = environ.get(SETTINGS_ENV)
    if path:
        if not os.path.isfile(path):
            raise SettingsError(f"{SETTINGS_ENV} names {path!r}, which is not a file")
        try:
            namespace = runpy.run_path(path)
        except Exception as exc:  # the operator's file: report it, never a traceback
            raise SettingsError(f"cannot read settings file {path!r}: {type(exc).__name__}: {exc}")
        config.update(_public_names(namespace))
    for name in ENVIRONMENT_NAMES:
        if environ.get(name):
            config[name] = environ[name]
    config.update(overrides or {})
    return config


def setting(name):
    """The setting ``name`` of the running application, or its default outside one."""
    if has_app_context():
        return current_app.config[name]
    return getattr(defaults, name)



def number_setting(config, name, low, high, whole=False):
    """The number setting ``name`` of ``config``, or :class:`SettingsError` naming it unless it
    is a (whole, with ``whole``) number from ``low`` to ``high``."""
    value = config.get(name, getattr(defaults, name))
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise SettingsError(f"{name} {value!r} must be a {'whole ' if whole else ''}number from {low} to {high}")
    return value
