"""Write registry objects straight into a running registry's database.

Tests use this for objects that no registry endpoint creates yet, such as
private projects. After the write the metadata epoch is bumped, so the
server drops what it has cached.
"""

from __future__ import annotations

from seawall.db import Database
from seawall.db.models import Project, ProjectMetadata
from seawall.registry.cache import MetadataEpoch
from tests.support.server import RunningRegistry


def create_project(registry: RunningRegistry, name: str, *, public: bool) -> None:
    database = Database(registry.database_url)
    try:
        with database.session() as session:
            project = Project(name=name)
            value = "true" if public else "false"
            project.metadata_items.append(ProjectMetadata(name="public", value=value))
            session.add(project)
    finally:
        database.dispose()
    MetadataEpoch(registry.data_dir).bump()
