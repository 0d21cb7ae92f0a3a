"""Turn ``CLOUD_FARM`` into the set of clouds the API serves, validating every entry."""
import re

from dispatcher.errors import NotFound, SettingsError, UnknownProvider
from dispatcher.lib.cloud_factory import get_driver_class
from dispatcher.lib.clouds import Cloud
from dispatcher.lib.secrets import registry as secrets

ENTRY_KEYS = {"ENGINE", "USER", "PASSWORD", "EXTRA_PARAMS", "TIMEOUT", "ALLOW"}
_SECRET_PARAM = re.compile(r"pass|secret|token|key|credential", re.I)
_CLOUD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class CloudFarm:
    """The configured clouds by name; ``default`` is the one a request gets when it names none."""

    def __init__(self, clouds):
        self._clouds = clouds

    def __iter__(self):
        return iter(self._clouds.values())

    def __len__(self):
        return len(self._clouds)

    def get(self, name):
        try:
            return self._clouds[name]
        except KeyError:
            raise NotFound(f"no cloud named {name!r}", {"cloud": name, "known": sorted(self._clouds)}) from None


def check_entry(name, entry):
    """Raise :class:`SettingsError` naming the cloud and the key when ``entry`` is unusable."""
    if not isinstance(name, str) or not _CLOUD_NAME.match(name):
        raise SettingsError(f"cloud {name!r}: the name must be letters, digits, '.', '_' or '-'")
    if not isinstance(entry, dict):
        raise SettingsError(f"cloud {name!r}: the entry must be a dict, not {type(entry).__name__}")
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise SettingsError(f"cloud {name!r}: unknown key {sorted(unknown)[0]} (known: {', '.join(sorted(ENTRY_KEYS))})")
    if not entry.get("ENGINE"):
        raise SettingsError(f"cloud {name!r}: ENGINE is required")
    for key in ("USER", "PASSWORD"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise SettingsError(f"cloud {name!r}: {key} must be a string")
    if not isinstance(entry.get("EXTRA_PARAMS", {}), dict):
        raise SettingsError(f"cloud {name!r}: EXTRA_PARAMS must be a dict")
    timeout = entry.get("TIMEOUT")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise SettingsError(f"cloud {name!r}: TIMEOUT must be a positive number of seconds")
    allow = entry.get("ALLOW")
    if allow is not None and (not isinstance(allow, (list, tuple)) or not all(isinstance(a, str) for a in allow)):
        raise SettingsError(f"cloud {name!r}: ALLOW must be a list of plan or account names")
    try:
        driver_class = get_driver_class(entry["ENGINE"])
    except UnknownProvider:
        raise SettingsError(f"cloud {name!r}: ENGINE {str(entry['ENGINE'])!r} is not a known provider "
                            f"(see the provider labels of libcloud or of an installed driver plugin)") from None
    driver_class.check_settings(name, entry)
    return driver_class


def prepare_cloud_environment(settings, engine=None):
    """Validate ``settings['CLOUD_FARM']`` and return the :class:`CloudFarm`; connects nothing.

    ``engine`` is the store, for drivers that keep their state there (the Dummy cloud)."""
    farm = settings.get("CLOUD_FARM")
    if not isinstance(farm, dict) or not farm:
        raise SettingsError("CLOUD_FARM must be a non-empty dict of clouds")
    if "default" not in farm:
        raise SettingsError("CLOUD_FARM: a cloud named 'default' is required")
    clouds = {}
    for name, entry in farm.items():
        driver_class = check_entry(name, entry)
        secrets.add(entry.get("USER"), entry.get("PASSWORD"))
        secrets.add(*(v for k, v in (entry.get("EXTRA_PARAMS") or {}).items()
                      if isinstance(v, str) and _SECRET_PARAM.search(k)))
        clouds[name] = Cloud(name, entry, driver_class, settings.get("CLOUD_TIMEOUT", 30), default=name == "default",
                             pool_size=settings.get("CLOUD_CONNECTIONS", 8),
                             list_seconds=settings.get("NODE_LIST_SECONDS", 0.0), engine=engine)
    return CloudFarm(clouds)
