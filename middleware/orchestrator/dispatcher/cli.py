"""The ``orchestrator`` command: Flask's CLI over our factory, plus account administration.

The administration commands (``accounts``, ``keys``) work on the store the service uses, with
its settings; they run on the server, and need no API key. An account is named by its id or
its name.
"""
import os
import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, NoAppException, with_appcontext

from dispatcher.errors import DispatcherError, SettingsError
from dispatcher.lib import migrate


class CannotStart(NoAppException):
    """Unusable settings: one line, as the server says it, and exit status 3."""

    exit_code = 3

    def show(self, file=None):
        click.echo(f"orchestrator: cannot start: {self.message}", err=True)


class AdminGroup(AppGroup):
    """Commands over the accounts service: a refusal (unknown plan, no such account...) is one
    line on stderr and exit status 1, as the API would say it, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DispatcherError as exc:
            raise click.ClickException(exc.message) from None


def _create_app():
    from dispatcher.application import create_app

    # An administration command only touches the store: no scheduler of its own competes for
    # the lease, and claims runs, for the second the command lasts.
    ctx = click.get_current_context(silent=True)
    administering = False
    while ctx is not None and not administering:
        administering, ctx = isinstance(ctx.command, AdminGroup), ctx.parent
    try:
        return create_app({"SCHEDULER_ENABLED": False} if administering else None)
    except SettingsError as exc:
        raise CannotStart(str(exc)) from None


def _accounts():
    return current_app.extensions["orchestrator.accounts"]


def _table(header, rows):
    """Rows of strings in left-aligned columns under ``header``."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def _summary(account):
    return f"account {account['id']} ({account['name']}, plan {account['plan']})"


@click.group(cls=FlaskGroup, create_app=_create_app)
def main():
    """Orchestrator: cloud orchestration middleware."""


@main.group(cls=AdminGroup)
def accounts():
    """Manage accounts (on the server, with the service's settings)."""


@accounts.command("create")
@click.option("--name", required=True, help="unique account name")
@click.option("--plan", required=True, help="a plan of PLANS, e.g. free")
def create_account(name, plan):
    """Create an account and print its first API key (shown once)."""
    account, key_id, token = _accounts().create_account(name, plan)
    click.echo(_summary(account))
    click.echo(f"key {key_id}: {token}")
    click.echo("send it as 'Authorization: Bearer <key>'; it will not be shown again")


@accounts.command("list")
def list_accounts():
    """List every account, oldest first, with the jobs it holds of its plan's limit."""
    rows = [(a["id"], a["name"], a["plan"],
             a["jobs_scheduled"] if a["jobs_allowed"] is None else f"{a['jobs_scheduled']}/{a['jobs_allowed']}",
             "yes" if a["is_admin"] else "no") for a in _accounts().list_accounts()]
    _table(("ID", "NAME", "PLAN", "JOBS", "ADMIN"), rows)


@accounts.command("show")
@click.argument("account")
def show_account(account):
    """Show an account (by id or name)."""
    shown = _accounts().describe(_accounts().find(account)["id"])
    allowed = "no limit" if shown["jobs_allowed"] is None else f"of {shown['jobs_allowed']}"
    for label, value in (("id", shown["id"]), ("name", shown["name"]),
                         ("plan", f"{shown['plan']} ({shown['jobs_scheduled']} {allowed} jobs)"),
                         ("admin", "yes" if shown["is_admin"] else "no"), ("created", shown["created_at"])):
        click.echo(f"{label + ':':<9} {value}")


@accounts.command("update")
@click.argument("account")
@click.option("--plan", help="move the account to this plan of PLANS")
@click.option("--name", help="rename the account")
def update_account(account, plan, name):
    """Move an account (by id or name) to another plan, or rename it."""
    if plan is None and name is None:
        raise click.UsageError("give --plan, --name or both")
    click.echo(_summary(_accounts().update_account(_accounts().find(account)["id"], name=name, plan=plan)))


@accounts.command("delete")
@click.argument("account")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def delete_account(account, yes):
    """Delete an account (by id or name) with its jobs and keys; its runs stay in the history."""
    found = _accounts().describe(_accounts().find(account)["id"])
    if not yes:
        click.confirm(f"Delete account {found['name']} and its {found['jobs_scheduled']} jobs?", abort=True)
    removed = _accounts().delete_account(found["id"])
    click.echo(f"deleted account {found['id']} ({found['name']}) with its {removed['jobs']} jobs "
               f"and {removed['keys']} keys")


@main.group(cls=AdminGroup)
def keys():
    """Manage API keys (on the server, with the service's settings)."""


@keys.command("create")
@click.option("--account", help="the account (id or name)")
@click.option("--admin", is_flag=True, help="the administrator's account: to replace a lost administrator key")
def create_key(account, admin):
    """Add an API key to an account and print it (shown once)."""
    if bool(account) == admin:
        raise click.UsageError("give --account or --admin")
    owner = _accounts().admin_account() if admin else _accounts().find(account)
    key_id, token = _accounts().create_key(owner["id"])
    click.echo(f"key {key_id}: {token}")
    whose = "the administrator's account" if admin else "account"
    click.echo(f"added to {whose} {owner['id']} ({owner['name']}); send it as 'Authorization: Bearer <key>'; "
               f"it will not be shown again")


@keys.command("list")
@click.option("--account", required=True, help="the account (id or name)")
def list_keys(account):
    """List an account's keys: their ids and dates, never the keys."""
    rows = [(k["id"], k["created_at"], k["revoked_at"] or "-")
            for k in _accounts().keys(_accounts().find(account)["id"])]
    _table(("KEY", "CREATED", "REVOKED"), rows)


@keys.command("revoke")
@click.argument("key_id")
def revoke_key(key_id):
    """Revoke an API key (by its id).

    The worker that revokes it refuses it at once, the others within AUTH_CACHE_SECONDS.
    """
    _accounts().revoke_key(key_id)
    click.echo(f"key {key_id} revoked")


@main.group(cls=AdminGroup)
def db():
    """The store's schema."""


@db.command("upgrade")
@with_appcontext
def db_upgrade():
    """Apply the migrations the store lacks (every start does this too)."""
    engine = current_app.extensions["orchestrator.engine"]
    migrate.upgrade(engine)
    click.echo(f"the store is at revision {migrate.current(engine)}")


@db.command("current")
@with_appcontext
def db_current():
    """Print the store's revision and the newest one."""
    click.echo(f"store: {migrate.current(current_app.extensions['orchestrator.engine'])}, newest: {migrate.head()}")



@main.command("scheduler", with_appcontext=False)
def run_scheduler():
    """Run only the scheduling loop (no HTTP), until SIGTERM or Ctrl-C.

    Start two on different hosts: the one holding the lease in the store is active, the other
    takes over within SCHEDULER_LEASE_SECONDS if it stops. API servers then set
    SCHEDULER_ENABLED = False.
    """
    from dispatcher.application import create_app

    try:
        app = create_app({"SCHEDULER_ENABLED": True})
    except SettingsError as exc:
        raise CannotStart(str(exc)) from None
    scheduler = app.extensions["orchestrator.scheduler"]
    click.echo(f"orchestrator: scheduler {scheduler.holder} started; active while it holds the lease", err=True)
    _wait_for_signal()
    scheduler.stop(wait=True)
    click.echo(f"orchestrator: scheduler {scheduler.holder} stopped", err=True)


@main.command("worker", with_appcontext=False, context_settings={"ignore_unknown_options": True})
@click.option("-c", "--concurrency", type=int, help="runs executed at once (default WORKER_CONCURRENCY)")
@click.option("-Q", "--queues", help="queues to take runs from (default: both, CELERY_QUEUE and CELERY_CLOUD_QUEUE)")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def run_worker(concurrency, queues, celery_args):
    """Run a Celery worker executing runs (with EXECUTOR = "celery"), until SIGTERM.

    Further arguments go to Celery's worker (e.g. --loglevel DEBUG). A worker takes a run only
    through the store's conditional Submitted -> Running, so a message delivered twice never
    runs an action twice.
    """
    from dispatcher.worker import Runtime, app as celery

    try:
        runtime = Runtime.get()  # checks the settings and the store before taking any message
    except SettingsError as exc:
        raise CannotStart(str(exc)) from None
    config = runtime.config
    queues = queues or f"{config['CELERY_QUEUE']},{config['CELERY_CLOUD_QUEUE']}"
    celery.worker_main(["worker", "--pool", "threads", "-c", str(concurrency or config["WORKER_CONCURRENCY"]),
                        "-Q", queues, "--loglevel", "INFO", "-n", f"orchestrator-{os.getpid()}@%h",
                        *celery_args])


def _wait_for_signal():
    """Block until SIGTERM, SIGINT or SIGHUP."""
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda *_: stopping.set())
    while not stopping.wait(1.0):
        pass


if __name__ == "__main__":
    main(prog_name="orchestrator")
