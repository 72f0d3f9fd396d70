"""Metadata database: models and sessions.

Migrations live in `seawall.db.migrate`, which loads Alembic; it is left
out here so that server workers, which never migrate, do not load it.
"""

from seawall.db.session import Database

__all__ = ["Database"]
