"""The ``orch`` command line against a live service, through click's CliRunner."""
import json
import os
import pathlib
import pty
import signal
import socket
import subprocess
import sys
import threading
import time

import click
import pytest
from click.testing import CliRunner

from orchestrator_client import Client
from orchestrator_client.cli import cli

from conftest import ADMIN_KEY, wait_for

CLIENT = pathlib.Path(__file__).resolve().parents[1]


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
    assert result.exit_code == 0 and "3    the server cannot be reached" in result.stdout
    assert "130  interrupted" in orch("nodes", "create", "--help").stdout


def test_jobs_add_list_pause_resume_run_rm(orch, admin, target):
    added = orch("jobs", "add", "--every", "1d", "--url", target.url + "/cli", "--name", "cli job", "--group", "cli")
    assert added.exit_code == 0, added.stderr
    job_id = added.stdout.split()[0]
    by_body = orch("--json", "jobs", "add", "--body", json.dumps({"schedule": {"cron": "0 3 * * *"},
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


def test_nodes_create_wait_shows_a_progress_bar_until_they_run(service, admin):
    """A real ``orch`` process whose stderr is a terminal (the bar is drawn only on one)."""
    env = {**os.environ, "ORCHESTRATOR_URL": service.url, "ORCHESTRATOR_API_KEY": ADMIN_KEY, "COLUMNS": "120"}
    terminal, attached = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "orchestrator_client.cli", "nodes", "create", "--cloud",
                                "booting", "--image", "1", "--size", "1", "--name", "bar-{n}", "--count", "5",
                                "--wait"], cwd=CLIENT, env=env, stdout=subprocess.PIPE, stderr=attached)
    os.close(attached)
    drawn = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the process closed the terminal: it exited
            break
        if not chunk:
            break
        drawn += chunk
    os.close(terminal)
    out = process.stdout.read().decode()
    assert process.wait(timeout=30) == 0, drawn
    drawn = drawn.decode()
    assert "Waiting for the nodes to run" in drawn and "0/5" in drawn and "5/5" in drawn and "#" in drawn
    assert out.startswith("ID") and out.count("running") == 5
    ids = [line.split()[0] for line in out.splitlines()[1:]]
    assert {admin.node(node_id, cloud="booting")["state"] for node_id in ids} == {"running"}
    for node_id in ids:
        admin.destroy_node(node_id, cloud="booting")


def test_nodes_create_wait_gives_up_with_exit_4(orch):
    created = orch("nodes", "create", "--cloud", "stuck", "--image", "1", "--size", "1", "--count", "2",
                   "--wait", "--timeout", "1")
    assert created.exit_code == 4 and "2 of 2 nodes not running after 1 s" in created.stderr
    assert created.stdout == ""
    left = json.loads(orch("nodes", "list", "--cloud", "stuck", "--json").stdout)
    assert orch("nodes", "destroy", "--cloud", "stuck", *[n["id"] for n in left]).exit_code == 0


def run_twice_soon(admin, job_id):
    """Run the job twice, a second from now, while ``runs tail`` watches; the thread doing it."""
    def fire():
        time.sleep(1.0)
        admin.run_job(job_id)
        admin.run_job(job_id)
    firing = threading.Thread(target=fire)
    firing.start()
    return firing


def test_runs_tail_prints_new_runs_then_stops(orch, admin, target):
    job = admin.create_job({"frequency": "daily"}, {"type": "url", "url": target.url + "/tail"})

    firing = run_twice_soon(admin, job["id"])
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


def _leaves(command, path=()):
    """(path, command) of every command that does something, through the groups."""
    if isinstance(command, click.Group):
        if command.invoke_without_command:
            yield path, command
        for name, sub in command.commands.items():
            yield from _leaves(sub, path + (name,))
    else:
        yield path, command


@pytest.mark.parametrize("path", [p for p, _ in _leaves(cli)], ids=" ".join)
def test_every_command_takes_json(path):
    command = dict(_leaves(cli))[path]
    assert any("--json" in param.opts for param in command.params if isinstance(param, click.Option)), path


def test_commands_on_several_things_print_a_json_line_each(orch, admin, target):
    ids = [admin.create_job({"cron": "0 3 1 1 *"}, {"type": "url", "url": target.url})["id"] for _ in range(2)]
    paused = orch("jobs", "pause", *ids, "--json")
    assert paused.exit_code == 0
    assert [(job["id"], job["paused"]) for job in map(json.loads, paused.stdout.splitlines())] == [(i, True) for i in ids]
    runs = [json.loads(line) for line in orch("jobs", "run", *ids, "--json").stdout.splitlines()]
    assert [run["job_id"] for run in runs] == ids and all(run["run_id"] for run in runs)
    removed = [json.loads(line) for line in orch("jobs", "rm", *ids, "--json").stdout.splitlines()]
    assert removed == [{"id": i, "deleted": True} for i in ids]

    made = json.loads(orch("nodes", "create", "--image", "1", "--size", "1", "--count", "2", "--json").stdout)
    node_ids = [node["id"] for node in made]
    rebooted = [json.loads(line) for line in orch("nodes", "reboot", *node_ids, "--json").stdout.splitlines()]
    assert [node["id"] for node in rebooted] == node_ids
    destroyed = [json.loads(line) for line in orch("nodes", "destroy", *node_ids, "--json").stdout.splitlines()]
    assert destroyed == [{"id": i, "destroyed": True} for i in node_ids]


def test_runs_tail_columns_stay_under_their_headings(orch, admin, target):
    job = admin.create_job({"frequency": "daily"}, {"type": "url", "url": target.url + "/aligned"})

    firing = run_twice_soon(admin, job["id"])
    result = orch("runs", "tail", "--job", job["id"], "--interval", "0.1", "--until-idle", "3")
    firing.join()
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert len(rows) >= 2  # each run at least once, whatever statuses the polls caught
    starts = [header.index(name) for name in ("JOB_ID", "STATUS", "SCHEDULED_FOR", "FINISHED_AT", "ERROR")]
    for row in rows:
        assert all(row[start - 2:start] == "  " and row[start] != " " for start in starts), (header, row)
        assert row[starts[0]:].startswith(job["id"])
        assert row[starts[1]:starts[2]].strip() in ("Submitted", "Running", "Completed")
    admin.delete_job(job["id"])


def test_ctrl_c_exits_130(service):
    """A real ``orch`` process, interrupted while it waits for nodes that do not come up."""
    env = {**os.environ, "ORCHESTRATOR_URL": service.url, "ORCHESTRATOR_API_KEY": ADMIN_KEY}
    process = subprocess.Popen([sys.executable, "-m", "orchestrator_client.cli", "nodes", "create", "--cloud",
                                "stuck", "--image", "1", "--size", "1", "--name", "interrupted-{n}", "--wait"],
                               cwd=CLIENT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Client(service.url, ADMIN_KEY) as admin:
        made = wait_for(lambda: [n for n in admin.nodes("stuck") if n["name"].startswith("interrupted-")])
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        for node in made:
            admin.destroy_node(node["id"], cloud="stuck")
    assert process.returncode == 130 and "interrupted" in err and out == ""
