"""Settings are layered and checked at start, with one message naming the cloud and the key."""
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
