"""The ``orchestrator`` command: Flask's CLI over our factory, plus account administration."""
import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, NoAppException

from dispatcher.errors import DispatcherError, SettingsError


class CannotStart(NoAppException):
    """Unusable settings: one line, as the server says it, and exit status 3."""

    exit_code = 3

    def show(self, file=None):
        click.echo(f"orchestrator: cannot start: {self.message}", err=True)


def _create_app():
    from dispatcher.application import create_app

    try:
        return create_app()
    except SettingsError as exc:
        raise CannotStart(str(exc)) from None


class ServiceGroup(AppGroup):
    """Commands over the services: a refusal (unknown plan, no such account...) is one line on
    stderr and exit status 1, as the API would say it, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DispatcherError as exc:
            raise click.ClickException(exc.message) from None


@click.group(cls=FlaskGroup, create_app=_create_app)
def main():
    """Orchestrator: cloud orchestration middleware."""


@main.group(cls=ServiceGroup)
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


@main.group(cls=ServiceGroup)
def keys():
    """Manage API keys."""


@keys.command("create")
@click.option("--account", "account_id", required=True, help="the account's id")
def create_key(account_id):
    """Add an API key to an account and print it (shown once)."""
    key_id, token = current_app.extensions["orchestrator.accounts"].create_key(account_id)
    click.echo(f"key {key_id}: {token}")


if __name__ == "__main__":
    main(prog_name="orchestrator")
