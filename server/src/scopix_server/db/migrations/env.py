"""Alembic environment: runs on the connection the server hands over (see ``migrate.py``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from scopix_server.db.models import Base

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:  # the alembic command line (e.g. autogenerate), with -x url=sqlite:///path.db
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///scopix-dev.db")
    with create_engine(url).connect() as connection:
        run(connection)
        connection.commit()
