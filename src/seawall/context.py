"""The services one process shares between its requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from seawall.auth import Authenticator
from seawall.auth.tokens import TokenService
from seawall.configuration import ConfigurationStore
from seawall.db import Database
from seawall.policy import ProjectFacts, ProjectRole
from seawall.registry.cache import EpochCache, MetadataEpoch
from seawall.registry.pulls import PullRecorder
from seawall.registry.uploads import UploadService
from seawall.scan.external import external_scanner
from seawall.scan.gate import GateOutcome
from seawall.scan.service import ScanService
from seawall.settings import Settings
from seawall.storage import BlobStore


@dataclass(frozen=True, slots=True)
class CachedManifest:
    digest: str
    media_type: str
    body: bytes


# Manifests larger than this are read from storage on every request.
CACHEABLE_MANIFEST_BYTES = 256 * 1024


def signing_key_path(settings: Settings) -> Path:
    return settings.data_dir / "token-signing-key.pem"


@dataclass
class RegistryContext:
    settings: Settings
    db: Database
    store: BlobStore
    uploads: UploadService
    authenticator: Authenticator
    configuration: ConfigurationStore
    tokens: TokenService
    epoch: MetadataEpoch
    credential_epoch: MetadataEpoch
    scans: ScanService
    projects: EpochCache[str, ProjectFacts | None] = field(
        default_factory=lambda: EpochCache(1024)
    )
    manifests: EpochCache[tuple[str, str], CachedManifest] = field(
        default_factory=lambda: EpochCache(4096)
    )
    roles: EpochCache[tuple[int, int], frozenset[ProjectRole]] = field(
        default_factory=lambda: EpochCache(8192)
    )
    pulls: PullRecorder = field(default_factory=PullRecorder)
    # Vulnerability gate outcomes by (repository, digest).
    gate: EpochCache[tuple[str, str], GateOutcome] = field(
        default_factory=lambda: EpochCache(8192)
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryContext:
        db = Database(settings.resolved_database_url)
        store = BlobStore(settings.data_dir)
        store.ensure_layout()
        expiry = timedelta(seconds=settings.upload_expiry_seconds)
        epoch = MetadataEpoch(settings.data_dir)
        credential_epoch = MetadataEpoch(settings.data_dir, "credential-epoch")
        configuration = ConfigurationStore(db, epoch)
        authenticator = Authenticator(
            db,
            settings.credential_cache_seconds,
            settings.auth_failure_limit,
            credential_epoch,
            lambda: str(configuration.get("robot_name_prefix")),
        )
        tokens = TokenService(signing_key_path(settings))
        return cls(
            settings=settings,
            db=db,
            store=store,
            uploads=UploadService(
                db,
                store,
                expiry,
                settings.upload_write_mode,
                settings.upload_read_back,
            ),
            authenticator=authenticator,
            configuration=configuration,
            tokens=tokens,
            epoch=epoch,
            credential_epoch=credential_epoch,
            scans=ScanService(
                settings,
                db,
                store,
                epoch,
                external=external_scanner(settings, db, tokens),
            ),
        )

    def metadata_changed(self) -> None:
        """Invalidate every process's caches after a committed metadata write."""
        self.epoch.bump()

    def credentials_changed(self) -> None:
        """Drop remembered credentials in every process, after a user or robot change."""
        self.epoch.bump()
        self.credential_epoch.bump()
