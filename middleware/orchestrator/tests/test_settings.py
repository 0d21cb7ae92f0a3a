"""Settings are layered and checked at start, with one message naming the cloud and the key."""
import importlib.util
from pathlib import Path
import subprocess
import sys
import textwrap

import pytest

from dispatcher.config import load_config
from dispatcher.errors import SettingsError
from dispatcher.lib.cloud_init import prepare_cloud_environment


def farm(**entry):
    return {"CLOUD_FARM": {"default": {"ENGINE": "dummy", **entry}}, "CLOUD_TIMEOUT": 5}


@pytest.mark.parametrize("settings, message", [
    ({"CLOUD_FARM": {"default": {"ENGINE": "nosuchcloud"}}}, "cloud 'default': ENGINE 'nosuchcloud'"),
    ({"CLOUD_FARM": {"default": {"ENGINE": "openstack", "USER": "u"}}}, "cloud 'default': PASSWORD is required"),
    ({"CLOUD_FARM": {"default": {"ENGINE": "rackspace", "PASSWORD": "p"}}}, "cloud 'default': USER is required"),
    ({"CLOUD_FARM": {"default": "dummy"}}, "cloud 'default': the entry must be a dict"),
    ({"CLOUD_FARM": {"default": {"ENGINE": "dummy", "PASWORD": "x"}}}, "cloud 'default': unknown key PASWORD"),
    ({"CLOUD_FARM": {"default": {"ENGINE": "dummy", "EXTRA_PARAMS": []}}}, "cloud 'default': EXTRA_PARAMS must be a dict"),
    ({"CLOUD_FARM": {"default": {"ENGINE": "dummy", "TIMEOUT": -1}}}, "cloud 'default': TIMEOUT must be"),
    ({"CLOUD_FARM": {"other": {"ENGINE": "dummy"}}}, "a cloud named 'default' is required"),
    ({"CLOUD_FARM": {}}, "CLOUD_FARM must be a non-empty dict"),
])
def test_bad_farm_names_cloud_and_key(settings, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        prepare_cloud_environment({"CLOUD_TIMEOUT": 5, **settings})


def test_every_libcloud_provider_is_accepted_through_the_generic_driver():
    from libcloud.compute.providers import DRIVERS
    from dispatcher.lib.cloud_factory import get_driver_class
    from dispatcher.lib.cloud_factory.drivers import GenericDriver

    assert len(DRIVERS) >= 49
    for label in DRIVERS:
        assert issubclass(get_driver_class(label), GenericDriver)


def test_settings_file_overrides_defaults(tmp_path):
    path = tmp_path / "site.py"
    path.write_text(textwrap.dedent("""
        from libcloud.compute.types import Provider
        CLOUD_TIMEOUT = 7
        class CloudConfig:
            CLOUD_FARM = {'default': {'ENGINE': Provider.DUMMY, 'EXTRA_PARAMS': {'nodes': 3}}}
    """))
    config = load_config(environ={"ORCHESTRATOR_SETTINGS": str(path), "DATABASE_URL": "sqlite://"})
    assert config["CLOUD_TIMEOUT"] == 7
    assert config["CLOUD_FARM"]["default"]["EXTRA_PARAMS"] == {"nodes": 3}
    assert config["DATABASE_URL"] == "sqlite://"
    assert config["PLANS"]["free"]["max_jobs"] == 10  # untouched defaults stay


def test_settings_file_that_does_not_exist(tmp_path):
    with pytest.raises(SettingsError, match="not a file"):
        load_config(environ={"ORCHESTRATOR_SETTINGS": str(tmp_path / "missing.py")})


def test_the_service_refuses_to_start_with_one_message(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("CLOUD_FARM = {'default': {'ENGINE': 'openstack', 'USER': 'u', 'PASSWORD': 'hunter22'},"
                    " 'lab': {'ENGINE': 'warpdrive'}}\n")
    env = {"ORCHESTRATOR_SETTINGS": str(path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "runserver.py"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stderr.strip() == ("orchestrator: cannot start: cloud 'lab': ENGINE 'warpdrive' is not a known "
                                   "provider (see the provider labels of libcloud or of an installed driver plugin)")
    assert "hunter22" not in done.stderr + done.stdout


ORCHESTRATOR = Path(__file__).resolve().parents[1]
#: How each way of starting runs the factory: the development server, gunicorn's import of
#: ``dispatcher:app`` and the ``orchestrator`` command.
STARTS = {
    "runserver.py": ["runserver.py"],
    "gunicorn": ["-m", "gunicorn", "-w", "1", "-b", "127.0.0.1:0", "dispatcher:app"],
    "orchestrator": ["-m", "dispatcher.cli", "accounts", "create", "--name", "probe", "--plan", "free"],
}


def start(how, tmp_path, **environ):
    """Start the service (or the command) ``how`` with ``environ``; it is expected to stop."""
    env = {"PATH": "/usr/bin:/bin", "ORCHESTRATOR_SETTINGS": str(tmp_path / "site.py"), **environ}
    (tmp_path / "site.py").write_text(f"INSTANCE_PATH = {str(tmp_path / 'instance')!r}\nSCHEDULER_ENABLED = False\n")
    return subprocess.run([sys.executable, *STARTS[how]], cwd=ORCHESTRATOR, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("url, message", [
    ("notaurl", "DATABASE_URL 'notaurl' is not a database URL: expected dialect+driver://user:password@host/database"),
    ("mysql://orc:hunter22@db.invalid/orc",
     "DATABASE_URL mysql://orc:***@db.invalid/orc: its database driver is not installed (No module named 'MySQLdb')"),
    ("nosuchdb://orc:hunter22@db.invalid/orc",
     "DATABASE_URL nosuchdb://orc:***@db.invalid/orc: unknown database dialect or driver 'nosuchdb'"),
    ("sqlite:////nonexistent-folder/orchestrator.sqlite3",
     "DATABASE_URL sqlite:////nonexistent-folder/orchestrator.sqlite3: cannot open the database: "
     "unable to open database file"),
    ("postgres//orc:hunter22@db.invalid/orc",
     "DATABASE_URL (not shown: it may hold a password) is not a database URL: "
     "expected dialect+driver://user:password@host/database"),
])
def test_a_bad_database_url_stops_the_start_with_one_line(tmp_path, url, message):
    done = start("runserver.py", tmp_path, DATABASE_URL=url)
    assert (done.returncode, done.stderr.strip()) == (3, f"orchestrator: cannot start: {message}")
    assert "hunter22" not in done.stdout + done.stderr


def test_postgresql_that_cannot_be_reached(tmp_path):
    """Without psycopg the driver is missing; with it, nothing listens on port 1."""
    done = start("runserver.py", tmp_path, DATABASE_URL="postgresql://orc:hunter22@127.0.0.1:1/orc")
    why = ("its database driver is not installed (No module named 'psycopg')"
           if importlib.util.find_spec("psycopg") is None else
           'cannot open the database: connection failed: connection to server at "127.0.0.1", port 1 failed: '
           "Connection refused")
    assert (done.returncode, done.stderr.strip()) == (
        3, f"orchestrator: cannot start: DATABASE_URL postgresql://orc:***@127.0.0.1:1/orc: {why}")
    assert "hunter22" not in done.stdout + done.stderr


@pytest.mark.parametrize("how", ["gunicorn", "orchestrator"])
def test_every_start_reports_a_bad_database_url_alike(tmp_path, how):
    done = start(how, tmp_path, DATABASE_URL="mysql://orc:hunter22@db.invalid/orc")
    line = ("orchestrator: cannot start: DATABASE_URL mysql://orc:***@db.invalid/orc: "
            "its database driver is not installed (No module named 'MySQLdb')")
    assert done.returncode == 3, done.stderr
    assert line in done.stderr.splitlines()
    assert "Traceback" not in done.stderr and "hunter22" not in done.stdout + done.stderr
    if how == "orchestrator":  # gunicorn's own log lines come around ours
        assert done.stderr.strip() == line


@pytest.mark.parametrize("store_backend", ["sqlite"])  # the default store lives in the instance folder
def test_an_unusable_instance_path(make_app, tmp_path):
    with pytest.raises(SettingsError, match=r"INSTANCE_PATH 'instance': .* must be absolute"):
        make_app(INSTANCE_PATH="instance")
    (tmp_path / "a-file").write_text("")
    under_a_file = str(tmp_path / "a-file" / "instance")
    with pytest.raises(SettingsError, match=r"INSTANCE_PATH '.*a-file/instance': cannot create the folder: Not a dir"):
        make_app(INSTANCE_PATH=under_a_file)
