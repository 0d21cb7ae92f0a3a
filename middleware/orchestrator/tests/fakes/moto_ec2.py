"""A fake Eucalyptus cloud for tests: moto's EC2 backend over real HTTP.

libcloud's ``EucNodeDriver`` (``Provider.EUCALYPTUS``) talks to it unchanged;
every gap between moto 5.2.5 and what libcloud 3.9.1 expects is bridged here,
in the fake, never in libcloud or in our own code.  What we adapt, and why:

1. Routing.  libcloud signs with query signature v2 (no SigV4 Authorization
   header, Host is 127.0.0.1), so moto's ``DomainDispatcherApplication``
   cannot tell the service and falls back to S3.  We serve
   ``create_backend_app("ec2")`` directly: every request reaches EC2.
2. XML namespace.  moto answers ``xmlns="http://ec2.amazonaws.com/doc/2016-11-15"``
   while libcloud looks elements up under ``.../2016-11-15/`` (trailing slash);
   without it every list is silently empty.  The middleware adds the slash.
3. RebootInstances.  moto returns an empty body; libcloud's ``reboot_node``
   returns ``<return>`` == "true".  The middleware adds ``<return>true</return>``.
4. DescribeInstanceTypes.  The Eucalyptus driver's ``list_sizes`` parses
   Eucalyptus' own dialect (``instanceTypeDetails/item/{name,cpu,memory,disk}``
   in ``http://msgs.eucalyptus.com/3.3.0``), not EC2's ``instanceTypeSet``.
   The middleware rewrites moto's answer into that dialect.  It also asks moto
   for a small Eucalyptus-like catalogue (``SIZES``) only: the full list is
   ~1400 types, 5.8 MB and ~2.3 s per call.
5. Stock AMIs.  moto preloads ~1.2 MB of Amazon AMIs (~1 s per DescribeImages).
   We start every server with a fresh, empty us-east-1 EC2 backend (also
   isolating runs from each other) and register one image, returned as
   ``settings['image']``.
6. Validation.  By default moto happily runs instances of unknown AMIs or
   instance types.  We switch on moto's AMI and instance-type validation
   (``moto.settings``) while the server runs, so bad ids fail as on a real cloud
   (libcloud then raises ``BaseHTTPError``, code 400, "InvalidAMIID.NotFound: ...").
7. Error bodies.  moto puts ``xmlns`` on the error ``<Response>`` root; real EC2
   does not, and libcloud's ``EC2Response.parse_error`` looks up the
   un-namespaced ``Errors/Error``: with moto's body every error message would
   be empty and the AuthFailure/InvalidKeyPair mappings would never fire.  The
   middleware strips the namespace from error roots.

Not adaptable: ``EucNodeDriver.list_locations`` raises ``NotImplementedError``
inside libcloud itself, without any HTTP request.

Process-global side effects (one fake per process at a time): the us-east-1
EC2 backend of moto's default account is replaced, and the two validation
flags are set until ``shutdown()``.
"""
import contextlib
import functools
import io
import os
import re
import threading
import xml.etree.ElementTree as ET
from unittest import mock
from urllib.parse import parse_qs, urlencode

from moto.server import MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

REGION = "us-east-1"  # what moto infers when the request names no region (sigv2)
EUCA_NAMESPACE = "http://msgs.eucalyptus.com/3.3.0"  # EucNodeDriver's default api_version
# Instance types a small Eucalyptus cloud offers; all are offered by moto in us-east-1.
SIZES = ("t1.micro", "m1.small", "c1.medium", "m1.medium", "m1.large", "t2.micro")
DEFAULT_SIZE = "t2.micro"
_EC2_XMLNS = re.compile(rb'xmlns="(http://ec2\.amazonaws\.com/doc/[0-9-]+)"')
_ERROR_ROOT = re.compile(rb"<Response\s[^>]*>")


class MotoEc2Adapter:
    """WSGI middleware making moto's EC2 answers look like Eucalyptus' to libcloud."""

    def __init__(self, app, sizes=SIZES, euca_namespace=EUCA_NAMESPACE):
        self.app, self.sizes, self.euca_namespace = app, sizes, euca_namespace

    def __call__(self, environ, start_response):
        params = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            # POSTed query API: read the form, then hand moto an unread copy.
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            params.update(parse_qs(body.decode()))
        action = params.get("Action", [""])[0]
        if action == "DescribeInstanceTypes" and not any(k.startswith("InstanceType.") for k in params):
            # Ask moto for our small catalogue only (see module docstring, point 4).
            extra = urlencode({"InstanceType.%d" % i: s for i, s in enumerate(self.sizes, 1)})
            environ["QUERY_STRING"] = "&".join(filter(None, [environ.get("QUERY_STRING"), extra]))

        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None  # moto (Flask) never uses write()

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        status = captured["status"]

        body = _EC2_XMLNS.sub(rb'xmlns="\1/"', body)  # point 2: libcloud wants the slash
        if not status.startswith("2"):
            # point 7: libcloud reads errors as un-namespaced Errors/Error, like real EC2 sends
            body = _ERROR_ROOT.sub(b"<Response>", body, count=1)
        elif action == "RebootInstances" and b"<return>" not in body:
            # point 3: libcloud's reboot_node reports success only from <return>true</return>
            body = body.replace(b"</RebootInstancesResponse>",
                                b"<return>true</return></RebootInstancesResponse>")
        elif action == "DescribeInstanceTypes":
            body = self._to_euca_sizes(body)  # point 4

        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    def _to_euca_sizes(self, body):
        """Rewrite EC2's instanceTypeSet into Eucalyptus' instanceTypeDetails."""
        root = ET.fromstring(body)
        ns = {"ec2": root.tag[1:].split("}")[0]}
        out = ET.Element("DescribeInstanceTypesResponse", xmlns=self.euca_namespace)
        details = ET.SubElement(out, "instanceTypeDetails")
        for item in root.findall("ec2:instanceTypeSet/ec2:item", ns):
            values = {
                "name": item.findtext("ec2:instanceType", "", ns),
                "cpu": item.findtext("ec2:vCpuInfo/ec2:defaultVCpus", "1", ns),
                "memory": item.findtext("ec2:memoryInfo/ec2:sizeInMiB", "0", ns),
                # EBS-only types have no instance storage: report 0 GB of disk.
                "disk": item.findtext("ec2:instanceStorageInfo/ec2:totalSizeInGB", "0", ns),
            }
            entry = ET.SubElement(details, "item")
            for tag, text in values.items():
                ET.SubElement(entry, tag).text = text
        return ET.tostring(out, encoding="utf-8", xml_declaration=True)


@functools.lru_cache(maxsize=None)
def _moto_ec2_app():
    """Build moto's EC2-only Flask app once per process (loading EC2 costs ~1 s)."""
    return create_backend_app("ec2")


def _fresh_ec2_backend():
    """Replace moto's us-east-1 EC2 backend with an empty one; return a usable AMI id."""
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    account = get_backend("ec2")[DEFAULT_ACCOUNT_ID]
    # Skip moto's stock AMIs (point 5); the env var is only read when a backend is built.
    with mock.patch.dict(os.environ, {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}):
        account.pop(REGION, None)
        backend = account[REGION]
    return backend.register_image(name="orchestrator-test-image",
                                  description="Image seeded by the moto EC2 fake").id


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args, **kwargs):  # keep test output free of access logs
        pass


class MotoEc2Server:
    """A running fake: ``.port``, ``.image``, ``.shutdown()`` (stops, frees the port)."""

    def __init__(self, port=0):
        from moto import settings

        app = MotoEc2Adapter(_moto_ec2_app())
        self.image = _fresh_ec2_backend()
        # Point 6: make moto reject unknown AMIs / instance types, as a real cloud does.
        self._patch = mock.patch.multiple(settings, ENABLE_AMI_VALIDATION=True,
                                          EC2_ENABLE_INSTANCE_TYPE_VALIDATION=True)
        self._patch.start()
        self._server = make_server("127.0.0.1", port, app, threaded=True,
                                   request_handler=_QuietHandler)
        self.port = self._server.server_port
        # A short poll interval lets shutdown() return in ~50 ms instead of 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="moto-ec2", daemon=True)
        self._thread.start()

    def shutdown(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._patch.stop()


def start_moto_ec2(port=0):
    """Start the fake on 127.0.0.1 (``port=0``: any free port); return ``(server, base_url)``."""
    server = MotoEc2Server(port)
    return server, "http://127.0.0.1:%d/" % server.port


@contextlib.contextmanager
def running_moto_ec2():
    """Run the fake; yield our cloud settings for it, plus a usable 'image' and 'size'."""
    server, _ = start_moto_ec2()
    try:
        yield {
            "ENGINE": "eucalyptus",
            "USER": "AKIDEXAMPLE",
            "PASSWORD": "moto-secret-0123456789",
            "EXTRA_PARAMS": {"host": "127.0.0.1", "port": server.port,
                             "secure": False, "path": "/"},
            "image": server.image,
            "size": DEFAULT_SIZE,
        }
    finally:
        server.shutdown()
