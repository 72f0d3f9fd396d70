"""The services one process shares between its requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from seawall.auth import Authenticator
from seawall.db import Database
from seawall.policy import ProjectFacts
from seawall.registry.cache import EpochCache, MetadataEpoch
from seawall.registry.uploads import UploadService
from seawall.settings import Settings
from seawall.storage import BlobStore


@dataclass(frozen=True, slots=True)
class CachedManifest:
    digest: str
    media_type: str
    body: bytes


# Manifests larger than this are read from storage on every request.
CACHEABLE_MANIFEST_BYTES = 256 * 1024


@dataclass
class RegistryContext:
    settings: Settings
    db: Database
    store: BlobStore
    uploads: UploadService
    authenticator: Authenticator
    epoch: MetadataEpoch
    projects: EpochCache[str, ProjectFacts | None] = field(
        default_factory=lambda: EpochCache(1024)
    )
    manifests: EpochCache[tuple[str, str], CachedManifest] = field(
        default_factory=lambda: EpochCache(4096)
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryContext:
        db = Database(settings.resolved_database_url)
        store = BlobStore(settings.data_dir)
        store.ensure_layout()
        expiry = timedelta(seconds=settings.upload_expiry_seconds)
        return cls(
            settings=settings,
            db=db,
            store=store,
            uploads=UploadService(db, store, expiry),
            authenticator=Authenticator(
                db, settings.credential_cache_seconds, settings.auth_failure_limit
            ),
            epoch=MetadataEpoch(settings.data_dir),
        )
