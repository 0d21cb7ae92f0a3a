"""The ``orch`` command line against a live service, through click's CliRunner."""
import json
import socket
import threading
import time

import pytest
from click.testing import CliRunner

from orchestrator_client.cli import cli

from conftest import ADMIN_KEY, wait_for


@pytest.fixture
def orch(service):
    """``orch(*args)``: the CliRunner result of one command with the administrator's key."""
    runner = CliRunner()

    def invoke(*args, key=ADMIN_KEY, url=None):
        env = {"ORCHESTRATOR_URL": url or service.url, "ORCHESTRATOR_API_KEY": key}
        return runner.invoke(cli, list(args), env=env, prog_name="orch", catch_exceptions=False)
    return invoke


def test_clouds_as_a_table_and_as_json(orch):
    table = orch("clouds")
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "ENGINE", "DRIVER", "DEFAULT"] and row.startswith("default")
    as_json = orch("clouds", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)[0]["name"] == "default"
    assert json.loads(orch("--json", "clouds").stdout) == json.loads(as_json.stdout)


def test_api_error_exits_1_with_the_message_on_stderr(orch):
    result = orch("jobs", "rm", "no-such-job")
    assert result.exit_code == 1
    assert "no-such-job" in result.stderr and "not_found" in result.stderr and result.stdout == ""
    invalid = orch("jobs", "add", "--at", "not a date", "--url", "http://127.0.0.1:9/")
    assert invalid.exit_code == 1 and "details" in invalid.stderr


def test_bad_key_exits_1(orch):
    result = orch("clouds", key="not-a-key-0123456789abcdef0123456789")
    assert result.exit_code == 1 and "unauthorized" in result.stderr


@pytest.mark.parametrize("args", [["jobs", "add", "--cron", "* * * * *"],
                                  ["jobs", "add", "--every", "5x", "--url", "http://x/"],
                                  ["runs", "--status", "sleeping"],
                                  ["nodes", "create", "--size", "1"],
                                  ["no-such-command"]])
def test_usage_errors_exit_2(orch, args):
    assert orch(*args).exit_code == 2


def test_missing_url_exits_2():
    result = CliRunner().invoke(cli, ["clouds"], env={"ORCHESTRATOR_URL": None, "ORCHESTRATOR_API_KEY": "k"})
    assert result.exit_code == 2 and "ORCHESTRATOR_URL" in result.stderr


def test_unreachable_server_exits_3(orch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = orch("clouds", url=f"http://127.0.0.1:{port}")
    assert result.exit_code == 3 and "cannot reach" in result.stderr


def test_help_documents_the_exit_codes(orch):
    result = orch("--help")
    assert result.exit_code == 0 and "3  the server cannot be reached" in result.stdout


def test_jobs_add_list_pause_resume_run_rm(orch, admin, target):
    added = orch("jobs", "add", "--every", "1d", "--url", target.url + "/cli", "--name", "cli job", "--group", "cli")
    assert added.exit_code == 0, added.stderr
    job_id = added.stdout.split()[0]
    by_body = orch("--json", "jobs", "add", "--json", json.dumps({"schedule": {"cron": "0 3 * * *"},
                                                                  "action": {"type": "url", "url": target.url},
                                                                  "group": "cli"}))
    assert by_body.exit_code == 0, by_body.stderr
    other = json.loads(by_body.stdout)["id"]

    listed = orch("jobs", "list", "--group", "cli")
    assert listed.exit_code == 0 and "cli job" in listed.stdout and listed.stdout.startswith("ID")
    rows = json.loads(orch("jobs", "list", "--group", "cli", "--json").stdout)
    assert {row["id"] for row in rows} == {job_id, other}

    assert orch("jobs", "pause", job_id).stdout.strip() == f"paused {job_id}"
    assert admin.job(job_id)["paused"] is True
    assert orch("jobs", "resume", job_id).exit_code == 0
    assert admin.job(job_id)["paused"] is False
    run = orch("jobs", "run", job_id)
    assert run.exit_code == 0
    run_id = run.stdout.strip()
    wait_for(lambda: admin.last_event(run_id)["status"] == "Completed")
    runs = orch("runs", "--job", job_id, "--status", "completed", "--json")
    assert [r["id"] for r in json.loads(runs.stdout)] == [run_id]
    assert run_id in orch("runs", "--job", job_id).stdout
    assert orch("jobs", "rm", job_id, other).exit_code == 0
    assert json.loads(orch("jobs", "list", "--group", "cli", "--json").stdout) == []


def test_nodes_create_wait_list_reboot_destroy(orch):
    created = orch("nodes", "create", "--image", "1", "--size", "1", "--name", "cli-{n}", "--count", "2",
                   "--wait", "--json")
    assert created.exit_code == 0, created.stderr
    nodes = json.loads(created.stdout)
    assert len(nodes) == 2 and {n["state"] for n in nodes} == {"running"}
    ids = [n["id"] for n in nodes]
    table = orch("nodes", "list")
    assert table.exit_code == 0 and all(node_id in table.stdout for node_id in ids)
    assert orch("nodes", "reboot", ids[0]).exit_code == 0
    destroyed = orch("nodes", "destroy", *ids)
    assert destroyed.exit_code == 0 and destroyed.stdout.splitlines() == [f"destroyed {i}" for i in ids]
    assert orch("nodes", "destroy", ids[0]).exit_code == 1


def test_nodes_create_wait_shows_a_progress_bar(orch):
    created = orch("nodes", "create", "--image", "1", "--size", "1", "--name", "bar-{n}", "--count", "2", "--wait")
    assert created.exit_code == 0, created.stderr
    assert "Waiting for the nodes to run" in created.stderr
    assert created.stdout.startswith("ID") and created.stdout.count("running") == 2
    ids = [line.split()[0] for line in created.stdout.splitlines()[1:]]
    assert orch("nodes", "destroy", *ids).exit_code == 0


def test_runs_tail_prints_new_runs_then_stops(orch, admin, target):
    job = admin.create_job({"frequency": "daily"}, {"type": "url", "url": target.url + "/tail"})

    def fire():
        time.sleep(1.0)
        admin.run_job(job["id"])
        admin.run_job(job["id"])
    firing = threading.Thread(target=fire)
    firing.start()
    started = time.monotonic()
    result = orch("runs", "tail", "--job", job["id"], "--interval", "0.2", "--count", "2", "--json")
    firing.join()
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and {line["job_id"] for line in lines} == {job["id"]}
    assert time.monotonic() - started < 20
    idle = orch("runs", "tail", "--job", job["id"], "--interval", "0.2", "--until-idle", "1")
    assert idle.exit_code == 0 and idle.stdout.startswith("ID")
    admin.delete_job(job["id"])
