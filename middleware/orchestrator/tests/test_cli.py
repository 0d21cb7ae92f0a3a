"""The ``orchestrator`` command over the real application and its store."""
import threading

from click.testing import CliRunner
import pytest

from dispatcher.cli import main


@pytest.fixture
def orchestrator(app):
    """Run ``orchestrator <args>`` against ``app``; returns click's result."""
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        # Flask's group sets FLASK_RUN_FROM_CLI for good; the runner puts it back as it was, so
        # that later servers in this session (the docs build's) still run.
        return runner.invoke(main, list(args), input=input, env={"FLASK_RUN_FROM_CLI": None})
    return invoke


def refused(result, message):
    """The command failed with ``message`` alone on stderr: no traceback, a non-zero status."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == f"Error: {message}\n"
    return True


def misused(result, message):
    """The command was called wrongly: click's usage lines, then ``message``; status 2."""
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("Usage: ") and result.stderr.endswith(f"\nError: {message}\n")
    return True


def test_accounts_and_keys_are_created(app, orchestrator):
    out = orchestrator("accounts", "create", "--name", "cli-user", "--plan", "free")
    assert out.exit_code == 0, out.output
    account_id = out.output.split()[1]
    token = out.output.splitlines()[1].split(": ")[1]
    client = app.test_client()
    assert client.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"}).json["name"] == "cli-user"
    out = orchestrator("keys", "create", "--account", account_id)
    assert out.exit_code == 0 and out.output.startswith("key ")


def test_mistakes_are_one_line(orchestrator):
    assert refused(orchestrator("accounts", "create", "--name", "x", "--plan", "gold"),
                   "unknown plan 'gold'; the plans are free, standard, unlimited")
    assert refused(orchestrator("keys", "create", "--account", "nosuch"), "no account 'nosuch'")
    assert orchestrator("accounts", "create", "--name", "twice", "--plan", "free").exit_code == 0
    assert refused(orchestrator("accounts", "create", "--name", "twice", "--plan", "free"),
                   "an account named 'twice' exists already")


def account_named(app, name):
    return next(a for a in app.extensions["orchestrator.accounts"].list_accounts() if a["name"] == name)


def test_accounts_are_listed_shown_changed_and_deleted(app, orchestrator):
    orchestrator("accounts", "create", "--name", "alice", "--plan", "free")
    orchestrator("accounts", "create", "--name", "bob", "--plan", "standard")
    alice = account_named(app, "alice")

    listed = orchestrator("accounts", "list")
    assert listed.exit_code == 0
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "PLAN", "JOBS", "ADMIN"]
    assert [row.split() for row in rows] == [
        [account_named(app, "admin")["id"], "admin", "unlimited", "0", "yes"],
        [alice["id"], "alice", "free", "0/10", "no"],
        [account_named(app, "bob")["id"], "bob", "standard", "0/1000", "no"]]

    shown = orchestrator("accounts", "show", "alice")  # by name, or by id
    assert shown.exit_code == 0 and shown.stdout == orchestrator("accounts", "show", alice["id"]).stdout
    assert f"id:       {alice['id']}\n" in shown.stdout and "plan:     free (0 of 10 jobs)\n" in shown.stdout

    changed = orchestrator("accounts", "update", "alice", "--plan", "standard", "--name", "alice2")
    assert changed.exit_code == 0, changed.output
    assert changed.stdout == f"account {alice['id']} (alice2, plan standard)\n"
    assert misused(orchestrator("accounts", "update", "alice2"), "give --plan, --name or both")
    assert refused(orchestrator("accounts", "update", "alice2", "--name", "bob"),
                   "an account named 'bob' exists already")

    kept = orchestrator("accounts", "delete", "alice2", input="n\n")
    assert kept.exit_code != 0 and "Aborted" in kept.stderr
    deleted = orchestrator("accounts", "delete", "alice2", "--yes")
    assert deleted.exit_code == 0
    assert deleted.stdout == f"deleted account {alice['id']} (alice2) with its 0 jobs and 1 keys\n"
    assert refused(orchestrator("accounts", "show", "alice2"), "no account 'alice2'")
    assert refused(orchestrator("accounts", "delete", "admin", "--yes"),
                   "the administrator's account cannot be deleted")


def test_keys_are_listed_and_revoked(app, orchestrator):
    out = orchestrator("accounts", "create", "--name", "alice", "--plan", "free")
    first = out.stdout.splitlines()[1].split()[1].rstrip(":")
    second = orchestrator("keys", "create", "--account", "alice").stdout.split()[1].rstrip(":")
    revoked = orchestrator("keys", "revoke", first)
    assert (revoked.exit_code, revoked.stdout) == (0, f"key {first} revoked\n")
    listed = orchestrator("keys", "list", "--account", "alice")
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["KEY", "CREATED", "REVOKED"]
    assert [row.split()[0] for row in rows] == [first, second]
    assert rows[0].split()[2] != "-" and rows[1].split()[2] == "-"
    assert refused(orchestrator("keys", "revoke", "nosuch"), "no key 'nosuch'")
    assert refused(orchestrator("keys", "list", "--account", "nosuch"), "no account 'nosuch'")


def test_a_lost_administrator_key_is_replaced_on_the_server(app, orchestrator):
    out = orchestrator("keys", "create", "--admin")
    assert out.exit_code == 0, out.output
    token = out.stdout.splitlines()[0].rsplit(" ", 1)[1]
    me = app.test_client().get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["is_admin"] and "administrator" in out.stdout
    assert misused(orchestrator("keys", "create"), "give --account or --admin")
    assert misused(orchestrator("keys", "create", "--admin", "--account", "admin"), "give --account or --admin")


def test_administration_commands_start_no_scheduler(tmp_path):
    """On a server with the scheduler on, an administration command must not compete for the
    lease and claim runs for the second it lasts."""
    settings = tmp_path / "site.py"
    settings.write_text(f"INSTANCE_PATH = {str(tmp_path / 'instance')!r}\nSCHEDULER_ENABLED = True\n")
    before = {t for t in threading.enumerate() if t.name == "orchestrator-scheduler"}
    out = CliRunner().invoke(main, ["accounts", "list"],
                             env={"ORCHESTRATOR_SETTINGS": str(settings), "FLASK_RUN_FROM_CLI": None})
    assert out.exit_code == 0, out.output
    assert {t for t in threading.enumerate() if t.name == "orchestrator-scheduler"} == before
