"""Driver classes: each turns one ``CLOUD_FARM`` entry into a connected libcloud driver."""
from libcloud.compute.providers import get_driver

from dispatcher.errors import SettingsError


class GenericDriver:
    """Connects any libcloud compute provider.

    ``USER`` is the provider's key, ``PASSWORD`` its secret (omitted when empty) and
    ``EXTRA_PARAMS`` the driver's keyword arguments, as libcloud documents them for that
    provider. Subclasses map our settings onto a driver whose arguments differ.
    """

    #: Settings keys that must be present and non-empty for this driver.
    required_credentials = ("USER",)
    #: True for in-process, thread-safe drivers: one instance serves every request, instead
    #: of a pool of connections each serving one call at a time.
    shared = False
    #: Operations the libcloud class defines but cannot do (its method only raises).
    unsupported = frozenset()

    def __init__(self, creds):
        self.creds = creds
        self.engine = str(creds["ENGINE"])
        self.user = creds.get("USER") or ""
        self.password = creds.get("PASSWORD") or ""
        self.extra = dict(creds.get("EXTRA_PARAMS") or {})
        self.store = None
        self.cloud_name = None

    def attach_store(self, engine, cloud_name):
        """Give the driver the store and the cloud's name; drivers that keep state there (the
        Dummy cloud) use them, the others ignore them."""
        self.store = engine
        self.cloud_name = cloud_name

    @classmethod
    def check_settings(cls, name, creds):
        """Raise :class:`SettingsError` naming the cloud and the key when ``creds`` is unusable."""
        for key in cls.required_credentials:
            if not creds.get(key):
                raise SettingsError(f"cloud {name!r}: {key} is required by the {creds['ENGINE']} driver")

    def libcloud_class(self):
        return get_driver(self.engine)

    def connect(self, **kwargs):
        """Return a libcloud driver connected with these credentials; ``kwargs`` win over ours."""
        args = (self.user, self.password) if self.password else (self.user,)
        params = {**self.extra, **kwargs}
        timeout = params.pop("timeout", None)
        return with_timeout(self.libcloud_class()(*args, **params), timeout)


def with_timeout(driver, timeout):
    """Give every later HTTP request of a constructed libcloud ``driver`` this timeout.

    Not every libcloud driver takes ``timeout`` in its constructor (``EucNodeDriver`` has no
    ``**kwargs``; DigitalOcean's factory ``__new__`` rejects every keyword), so it is set on the
    connection afterwards. The constructor has already opened the HTTP connection with libcloud's
    60 s default, hence ``connect()``: it builds a new session and sends nothing.
    """
    connection = getattr(driver, "connection", None)
    if timeout and connection is not None:
        connection.timeout = timeout
        connection.connect()
    return driver
