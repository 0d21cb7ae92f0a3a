"""Alembic's environment: migrations run on the connection :mod:`dispatcher.lib.migrate` hands over."""
from alembic import context

from dispatcher.lib.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  # SQLite alters tables by copying them: batch mode does that for us.
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
