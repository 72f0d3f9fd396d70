"""Alembic environment: runs migrations online against the configured URL."""

from __future__ import annotations

from alembic import context

from seawall.db.models import Base
from seawall.db.session import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("sqlalchemy.url is not set in the Alembic configuration")

engine = make_engine(url)
# A failed migration must close its connection too, or the pool leaves it
# open until the garbage collector finds it.
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
