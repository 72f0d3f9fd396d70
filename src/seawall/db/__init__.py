"""Metadata database: models, sessions and migrations."""

from seawall.db.migrate import upgrade_schema
from seawall.db.session import Database

__all__ = ["Database", "upgrade_schema"]
