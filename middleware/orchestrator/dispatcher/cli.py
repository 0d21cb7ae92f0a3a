"""The ``orchestrator`` command: Flask's CLI over our factory, plus account administration."""
import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from dispatcher.lib import migrate


def _create_app():
    from dispatcher.application import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app)
def main():
    """Orchestrator: cloud orchestration middleware."""


@main.group()
def accounts():
    """Manage accounts."""


@accounts.command("create")
@click.option("--name", required=True, help="unique account name")
@click.option("--plan", required=True, help="a plan of PLANS, e.g. free")
def create_account(name, plan):
    """Create an account and print its first API key (shown once)."""
    account, key_id, token = current_app.extensions["orchestrator.accounts"].create_account(name, plan)
    click.echo(f"account {account['id']} ({account['name']}, plan {account['plan']})")
    click.echo(f"key {key_id}: {token}")
    click.echo("send it as 'Authorization: Bearer <key>'; it will not be shown again")


@main.group()
def keys():
    """Manage API keys."""


@keys.command("create")
@click.option("--account", "account_id", required=True, help="the account's id")
def create_key(account_id):
    """Add an API key to an account and print it (shown once)."""
    key_id, token = current_app.extensions["orchestrator.accounts"].create_key(account_id)
    click.echo(f"key {key_id}: {token}")


@main.group()
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
