"""Run Rackspace's ``mimic`` mock cloud so tests can drive real libcloud drivers.

mimic lives in its own venv (``<repo>/.venv-mimic``, made by the Makefile with
``pip install mimic attrs==23.2.0``) because its Twisted/attrs pins clash with
ours; we only ever talk to it over HTTP. Typical pytest fixture::

    @pytest.fixture(scope="session")
    def mimic():
        server = start_mimic()
        yield server
        server.stop()

Both drivers authenticate against ``<base_url>/identity`` (libcloud appends
``/v2.0/tokens`` itself). mimic accepts *any* password / API key; every user
name gets its own tenant, so the two engines use different default user names
to keep their server lists apart (state lives as long as the process: with a
session-scoped fixture, use a fresh user name per test to start empty).
Without metadata a new server is ACTIVE (``NodeState.RUNNING``) at once;
reboot_node (HARD) shows ``REBOOTING`` for 6 seconds.

Failure injection, through server metadata (``ex_metadata`` of create_node):

(a) ``{"create_server_failure": '{"message": "boom", "code": 500}'}`` (value
    is a JSON *string*; optional ``"type"``, default ``"computeFault"``) makes
    POST /servers answer that code and nothing is created. libcloud raises
    ``libcloud.common.exceptions.BaseHTTPError`` (``.code`` == 500, str
    ``"500 Internal Server Error boom"``; code 429 gives its subclass
    RateLimitReachedError). ``"type": "string"`` sends a non-JSON body and
    libcloud raises ``MalformedResponseError`` instead.
(b) ``{"server_building": "N"}`` keeps the server in BUILD (libcloud
    ``NodeState.PENDING``) for N seconds, then ACTIVE (``RUNNING``). Seconds
    are wall-clock only with ``realtime=True`` (the default); otherwise mimic's
    clock only moves through :meth:`MimicServer.tick`.
(c) ``{"server_error": "1"}`` puts the server straight into ERROR.

Authentication failure: :meth:`MimicServer.fail_auth` -> libcloud raises
``InvalidCredsError`` (http_code 401). A stopped server gives
``requests.exceptions.ConnectionError`` (not a libcloud exception, but an
``OSError`` subclass).
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

# Ids present in mimic's canned data (stable across runs and tenants).
IMAGE_ID = '64e35a62-afb3-430b-9a1b-8880340cedd0'  # Ubuntu 14.04 LTS (PVHVM)
SIZE_ID = '2'  # "512MB Standard Instance"

SERVER_ERROR_METADATA = {'server_error': '1'}

# Talk to mimic directly even if HTTP(S)_PROXY is set in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def create_failure_metadata(message='Injected failure', code=500):
    """Metadata making mimic reject the server create with HTTP ``code``."""
    return {'create_server_failure': json.dumps(
        {'message': message, 'code': code})}


def building_metadata(seconds):
    """Metadata keeping the new server in BUILD for ``seconds`` seconds."""
    return {'server_building': str(seconds)}


def find_twistd():
    """Return the path of mimic's ``twistd`` executable.

    ``MIMIC_TWISTD`` wins (lets CI or a developer point at any install);
    otherwise ``<repo root>/.venv-mimic/bin/twistd``, the repo root being the
    nearest parent folder holding the ``Makefile``.
    """
    explicit = os.environ.get('MIMIC_TWISTD')
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise RuntimeError('MIMIC_TWISTD=%s is not an executable' % explicit)
        return explicit
    folder = os.path.dirname(os.path.abspath(__file__))
    while not os.path.isfile(os.path.join(folder, 'Makefile')):
        parent = os.path.dirname(folder)
        if parent == folder:  # reached "/" without finding the repo root
            folder = None
            break
        folder = parent
    candidate = folder and os.path.join(folder, '.venv-mimic', 'bin', 'twistd')
    if not candidate or not os.access(candidate, os.X_OK):
        raise RuntimeError(
            'mimic is not installed (looked for %s). Create it from the repo '
            'root with: python3 -m venv .venv-mimic && .venv-mimic/bin/pip '
            'install mimic attrs==23.2.0 (the Makefile does this), or set '
            'MIMIC_TWISTD to an existing twistd with mimic.'
            % (candidate or '.venv-mimic/bin/twistd: no Makefile above '
               + os.path.dirname(os.path.abspath(__file__))))
    return candidate


def _free_port():
    """Ask the kernel for a free port. Racy, hence the retry in start_mimic."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class MimicServer(object):
    """Handle on a running mimic process."""

    def __init__(self, process, port, workdir, realtime):
        self.process = process
        self.port = port
        self.base_url = 'http://127.0.0.1:%d' % port
        self.workdir = workdir
        self.realtime = realtime

    def log_tail(self, lines=30):
        """Last lines of mimic's output, for error messages."""
        try:
            with open(os.path.join(self.workdir, 'mimic.log'),
                      errors='replace') as log:
                return ''.join(log.readlines()[-lines:])
        except OSError:
            return '<no log>'

    def _post(self, path, payload):
        request = urllib.request.Request(
            self.base_url + path, data=json.dumps(payload).encode(),
            headers={'Content-Type': 'application/json'}, method='POST')
        with _OPENER.open(request, timeout=10) as response:
            return json.loads(response.read().decode() or 'null')

    def fail_auth(self, username_regex):
        """Make every later login whose user name matches fail with 401.

        mimic uses ``re.match``, anchored only at the start: add ``$`` for
        an exact name. Returns the mimic behavior id.
        """
        return self._post('/mimic/v1.1/IdentityControlAPI/behaviors/auth', {
            'criteria': [{'username': username_regex}],
            'name': 'fail', 'parameters': {}})['id']

    def tick(self, seconds):
        """Advance mimic's fake clock (only when started with realtime=False)."""
        return self._post('/mimic/v1.1/tick', {'amount': seconds})

    def stop(self):
        """Terminate mimic (kill if it hangs) and remove its working dir."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _launch(twistd, realtime, deadline):
    """Start one mimic on a fresh port and wait until it answers HTTP."""
    port = _free_port()
    # twistd writes twistd.pid (and would refuse a live one) in its cwd: give
    # each instance its own scratch dir so parallel runs never collide.
    workdir = tempfile.mkdtemp(prefix='mimic-')
    cmd = [twistd, '-n', 'mimic', '--listen',
           'tcp:%d:interface=127.0.0.1' % port]
    if realtime:
        cmd.append('--realtime')  # else BUILD/REBOOT timers never fire
    # Our PYTHONPATH/PYTHONHOME would leak the project venv into mimic's.
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'PYTHONHOME')}
    with open(os.path.join(workdir, 'mimic.log'), 'wb') as log:
        process = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = MimicServer(process, port, workdir, realtime)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break  # died early (e.g. port taken); no point in waiting
        try:
            with _OPENER.open(server.base_url + '/', timeout=1):
                return server, None
        except OSError:  # refused / reset while twistd is still booting
            time.sleep(0.1)
    status = process.poll()  # None: alive but silent until the deadline
    tail = server.log_tail()
    server.stop()
    return None, 'exit status %s, output:\n%s' % (status, tail)


def start_mimic(timeout=30, realtime=True, attempts=3):
    """Start mimic on a free 127.0.0.1 port; return a :class:`MimicServer`.

    Retries on a new port because another process may grab the port between
    _free_port() and twistd's bind; ``timeout`` bounds all attempts together.
    """
    twistd = find_twistd()
    deadline = time.monotonic() + timeout
    for _ in range(attempts):
        server, error = _launch(twistd, realtime, deadline)
        if server or time.monotonic() >= deadline:
            break
    if server:
        return server
    raise RuntimeError('mimic did not answer within %ss (%s): %s'
                       % (timeout, twistd, error))


def openstack_settings(port, user='openstack-user', password='mimic-openstack-password-7f3a'):
    """Cloud config for libcloud's OPENSTACK driver pointed at mimic (which takes any password:
    a distinctive one, so that the suite's leak check never mistakes a page's word for it)."""
    return {'ENGINE': 'openstack', 'USER': user, 'PASSWORD': password,
            'EXTRA_PARAMS': {
                'ex_force_auth_url': 'http://127.0.0.1:%d/identity' % port,
                'ex_force_auth_version': '2.0_password',
                'ex_force_service_name': 'cloudServersOpenStack',
                'ex_force_service_region': 'ORD'}}


def rackspace_settings(port, user='rackspace-user', api_key='api-key'):
    """Cloud config for libcloud's RACKSPACE driver pointed at mimic.

    The driver logs in with an API key (auth version "2.0") and selects the
    cloudServersOpenStack endpoint of ``region`` from the catalog by itself.
    """
    return {'ENGINE': 'rackspace', 'USER': user, 'PASSWORD': api_key,
            'EXTRA_PARAMS': {
                'region': 'ord',
                'ex_force_auth_url': 'http://127.0.0.1:%d/identity' % port}}
