"""The ``orchestrator`` command over the real application and its store."""
import pytest

from dispatcher.cli import main


@pytest.fixture
def orchestrator(app):
    """Run ``orchestrator <args>`` against ``app``; returns click's result."""
    runner = app.test_cli_runner()

    def invoke(*args):
        # Flask's group sets FLASK_RUN_FROM_CLI for good; the runner puts it back as it was, so
        # that later servers in this session (the docs build's) still run.
        return runner.invoke(main, list(args), env={"FLASK_RUN_FROM_CLI": None})
    return invoke


def refused(result, message):
    """The command failed with ``message`` alone on stderr: no traceback, a non-zero status."""
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == f"Error: {message}\n"
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
