"""Value objects returned at the API boundary, never libcloud's own objects."""
from dataclasses import asdict, dataclass, field
import re

# Keys of provider ``extra`` data that may carry secrets: dropped before anything leaves us.
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|auth|private|user_?data|admin_pass", re.I)
_PLAIN = (str, int, float, bool, type(None))


def clean_extra(extra):
    """Provider data reduced to JSON-plain values, with secret-looking keys removed."""
    return _plain(extra or {})


def _plain(value, depth=0):
    if isinstance(value, _PLAIN):
        return value
    if depth > 3:
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


class _Value:
    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Image(_Value):
    id: str
    name: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_libcloud(cls, image):
        return cls(id=str(image.id), name=image.name or "", extra=clean_extra(image.extra))


@dataclass(frozen=True, slots=True)
class Size(_Value):
    id: str
    name: str
    ram: int | None = None
    disk: int | None = None
    bandwidth: int | None = None
    price: float | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_libcloud(cls, size):
        return cls(id=str(size.id), name=size.name or "", ram=size.ram, disk=size.disk,
                   bandwidth=size.bandwidth, price=_number(size.price),
                   extra=clean_extra(size.extra))


@dataclass(frozen=True, slots=True)
class Location(_Value):
    id: str
    name: str
    country: str | None = None

    @classmethod
    def from_libcloud(cls, location):
        return cls(id=str(location.id), name=location.name or "", country=location.country)


@dataclass(frozen=True, slots=True)
class Node(_Value):
    id: str
    name: str
    state: str
    public_ips: tuple = ()
    private_ips: tuple = ()
    size: str | None = None
    image: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_libcloud(cls, node):
        size = node.size.id if node.size is not None else node.extra.get("flavorId") or node.extra.get("instance_type")
        image = node.image.id if node.image is not None else node.extra.get("imageId") or node.extra.get("image_id")
        return cls(id=str(node.id), name=node.name or "", state=str(node.state),
                   public_ips=tuple(node.public_ips or ()), private_ips=tuple(node.private_ips or ()),
                   size=None if size is None else str(size), image=None if image is None else str(image),
                   extra=clean_extra(node.extra))

    def to_dict(self):
        # Hot path of node lists: build the dict directly rather than through asdict's deep copy.
        return {"id": self.id, "name": self.name, "state": self.state,
                "public_ips": list(self.public_ips), "private_ips": list(self.private_ips),
                "size": self.size, "image": self.image, "extra": self.extra}


def _number(value):
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
