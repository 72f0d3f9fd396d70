"""SBOM accessories stored through the registry on a migrated database and a BlobStore."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from seawall.db import Database
from seawall.db.migrate import upgrade_schema
from seawall.db.models import Artifact, Blob
from seawall.registry.blobs import link_blob, record_blob
from seawall.registry.bootstrap import bootstrap
from seawall.registry.errors import ManifestInvalid, ManifestNotFound
from seawall.registry.listings import list_referrers, list_tags
from seawall.registry.manifest_parser import Descriptor
from seawall.registry.manifests import put_manifest, resolve_manifest
from seawall.registry.repositories import ensure_repository
from seawall.scan.model import Inventory, OperatingSystem, Package
from seawall.scan.sbom import (
    CYCLONEDX_MEDIA_TYPE,
    SPDX_MEDIA_TYPE,
    cyclonedx_document,
    spdx_document,
)
from seawall.scan.sbom_accessory import (
    AUTHORS_ANNOTATION,
    CREATED_ANNOTATION,
    DESCRIPTION_ANNOTATION,
    EMPTY_MEDIA_TYPE,
    SubjectNotFound,
    store_sbom,
)
from seawall.storage import BlobStore, parse_digest
from tests.support import databases
from tests.support.oci_layout import read_blob, sha256_digest, tagged_manifest

CREATED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
CREATED_TEXT = "2024-05-06T07:08:09Z"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
ANNOTATIONS = {CREATED_ANNOTATION: CREATED_TEXT}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database with the `library` project."""
    with databases.test_database_url(tmp_path_factory.mktemp("sbom-db")) as url:
        upgrade_schema(url)
        db = Database(url)
        with db.session() as session:
            bootstrap(session, "Unit-Test-Admin-1")
        yield db
        db.dispose()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    blob_store = BlobStore(tmp_path_factory.mktemp("sbom-blobs"))
    blob_store.ensure_layout()
    return blob_store


@pytest.fixture
def python_app(testdata: Path) -> Path:
    return testdata / "images" / "python-app"


def push_image(
    database: Database, store: BlobStore, layout: Path, repository_name: str
) -> Descriptor:
    """Push the layout's `1.0` image: blobs first, then the manifest by tag."""
    entry = tagged_manifest(layout, "1.0")
    manifest = read_blob(layout, entry.digest)
    document = json.loads(manifest)
    with database.session() as session:
        repository = ensure_repository(session, repository_name)
        for descriptor in [document["config"], *document["layers"]]:
            content = read_blob(layout, descriptor["digest"])
            digest = parse_digest(descriptor["digest"])
            store.write_blob(digest, content)
            link_blob(session, repository, record_blob(session, digest, len(content)))
        put_manifest(session, store, repository_name, "1.0", manifest, entry.media_type)
    return Descriptor(entry.media_type, parse_digest(entry.digest), entry.size)


def unique_repository() -> str:
    return f"library/python-app-{uuid.uuid4().hex[:8]}"


def sample_inventory(subject: Descriptor) -> Inventory:
    requests = Package(
        name="requests",
        version="2.19.0",
        ecosystem="PyPI",
        ecosystem_release="PyPI",
        purl="pkg:pypi/requests@2.19.0",
        layer_index=1,
        location="usr/local/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA",
        licenses=("Apache-2.0",),
    )
    return Inventory(str(subject.digest), OperatingSystem("debian", "12"), [requests])


def documents(repository_name: str, subject: Descriptor) -> dict[str, bytes]:
    """Return both SBOM documents of the sample inventory, by media type."""
    inventory = sample_inventory(subject)
    arguments: dict[str, Any] = {
        "image_name": repository_name,
        "image_digest": str(subject.digest),
        "created": CREATED,
    }
    return {
        SPDX_MEDIA_TYPE: spdx_document(inventory, **arguments),
        CYCLONEDX_MEDIA_TYPE: cyclonedx_document(inventory, **arguments),
    }


def store_document(
    database: Database,
    store: BlobStore,
    repository_name: str,
    subject: Descriptor,
    document: bytes,
    media_type: str,
) -> str:
    with database.session() as session:
        return store_sbom(
            session,
            store,
            repository_name=repository_name,
            subject=subject,
            document=document,
            document_media_type=media_type,
            annotations=ANNOTATIONS,
        )


def referrers(
    database: Database,
    repository_name: str,
    subject: Descriptor,
    artifact_type: str | None = None,
) -> list[dict[str, Any]]:
    with database.session(read_only=True) as session:
        return list_referrers(session, repository_name, subject.digest, artifact_type)


def count_artifacts(database: Database) -> int:
    with database.session(read_only=True) as session:
        return session.scalar(select(func.count()).select_from(Artifact)) or 0


def test_both_sboms_are_referrers(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    stored = {
        media_type: store_document(database, store, name, subject, document, media_type)
        for media_type, document in documents(name, subject).items()
    }

    listed = {r["artifactType"]: r for r in referrers(database, name, subject)}
    assert set(listed) == {SPDX_MEDIA_TYPE, CYCLONEDX_MEDIA_TYPE}
    for media_type, digest in stored.items():
        assert listed[media_type]["digest"] == digest
        assert (
            listed[media_type]["mediaType"]
            == "application/vnd.oci.image.manifest.v1+json"
        )


def test_referrer_annotations(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    for media_type, document in documents(name, subject).items():
        store_document(database, store, name, subject, document, media_type)

    by_type = {r["artifactType"]: r for r in referrers(database, name, subject)}
    spdx = by_type[SPDX_MEDIA_TYPE]["annotations"]
    cyclonedx = by_type[CYCLONEDX_MEDIA_TYPE]["annotations"]
    assert spdx[DESCRIPTION_ANNOTATION] == "SPDX JSON SBOM"
    assert cyclonedx[DESCRIPTION_ANNOTATION] == "CycloneDX JSON SBOM"
    assert spdx[CREATED_ANNOTATION] == CREATED_TEXT
    assert spdx[AUTHORS_ANNOTATION] == "Seawall"


def test_referrers_filtered_by_type(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    for media_type, document in documents(name, subject).items():
        store_document(database, store, name, subject, document, media_type)

    spdx_only = referrers(database, name, subject, SPDX_MEDIA_TYPE)
    assert [r["artifactType"] for r in spdx_only] == [SPDX_MEDIA_TYPE]


def test_stored_manifest_matches_digest(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    document = documents(name, subject)[SPDX_MEDIA_TYPE]
    digest = store_document(database, store, name, subject, document, SPDX_MEDIA_TYPE)

    body = store.read_blob(parse_digest(digest))
    assert sha256_digest(body) == digest
    with database.session(read_only=True) as session:
        record = resolve_manifest(session, name, digest)
    assert record.size == len(body)
    assert record.media_type == "application/vnd.oci.image.manifest.v1+json"


def test_stored_manifest_layout(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    document = documents(name, subject)[CYCLONEDX_MEDIA_TYPE]
    digest = store_document(
        database, store, name, subject, document, CYCLONEDX_MEDIA_TYPE
    )

    manifest = json.loads(store.read_blob(parse_digest(digest)))
    assert manifest["schemaVersion"] == 2
    assert manifest["artifactType"] == CYCLONEDX_MEDIA_TYPE
    assert manifest["config"]["mediaType"] == EMPTY_MEDIA_TYPE
    assert manifest["config"]["digest"] == EMPTY_DIGEST
    assert manifest["config"]["size"] == 2
    assert base64.b64decode(manifest["config"]["data"]) == b"{}"
    assert manifest["subject"] == {
        "mediaType": subject.media_type,
        "digest": str(subject.digest),
        "size": subject.size,
    }
    assert len(manifest["layers"]) == 1
    layer = manifest["layers"][0]
    assert layer["mediaType"] == CYCLONEDX_MEDIA_TYPE
    assert layer["digest"] == f"sha256:{hashlib.sha256(document).hexdigest()}"
    assert layer["size"] == len(document)
    assert store.read_blob(parse_digest(layer["digest"])) == document
    assert store.read_blob(parse_digest(EMPTY_DIGEST)) == b"{}"


def test_accessory_is_untagged(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    document = documents(name, subject)[SPDX_MEDIA_TYPE]
    store_document(database, store, name, subject, document, SPDX_MEDIA_TYPE)

    with database.session(read_only=True) as session:
        assert list_tags(session, name, None, None) == ["1.0"]


def test_store_again_is_idempotent(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    document = documents(name, subject)[SPDX_MEDIA_TYPE]
    first = store_document(database, store, name, subject, document, SPDX_MEDIA_TYPE)
    artifacts = count_artifacts(database)
    second = store_document(database, store, name, subject, document, SPDX_MEDIA_TYPE)

    assert second == first
    assert count_artifacts(database) == artifacts
    assert len(referrers(database, name, subject)) == 1


def test_missing_subject_stores_nothing(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    other = unique_repository()
    with database.session() as session:
        ensure_repository(session, other)
    document = documents(other, subject)[SPDX_MEDIA_TYPE]
    artifacts = count_artifacts(database)

    with pytest.raises(SubjectNotFound, match="push the image before its SBOM"):
        store_document(database, store, other, subject, document, SPDX_MEDIA_TYPE)

    document_digest = parse_digest(sha256_digest(document))
    assert store.blob_size(document_digest) is None
    with database.session(read_only=True) as session:
        row = session.scalars(
            select(Blob).where(Blob.digest == str(document_digest))
        ).one_or_none()
    assert row is None
    assert count_artifacts(database) == artifacts
    assert referrers(database, other, subject) == []


def test_missing_subject_is_manifest_not_found(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    absent = Descriptor(subject.media_type, parse_digest("sha256:" + "0" * 64), 10)
    document = documents(name, subject)[SPDX_MEDIA_TYPE]

    with pytest.raises(ManifestNotFound, match=name):
        store_document(database, store, name, absent, document, SPDX_MEDIA_TYPE)


def test_missing_repository_rejected(database: Database, store: BlobStore) -> None:
    subject = Descriptor(
        "application/vnd.oci.image.manifest.v1+json",
        parse_digest("sha256:" + "1" * 64),
        633,
    )
    document = b'{"spdxVersion": "SPDX-2.3"}'

    with pytest.raises(SubjectNotFound):
        store_document(
            database, store, "library/never-pushed", subject, document, SPDX_MEDIA_TYPE
        )


def test_subject_size_mismatch_rejected(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    wrong = Descriptor(subject.media_type, subject.digest, subject.size + 1)
    document = documents(name, subject)[SPDX_MEDIA_TYPE]

    with pytest.raises(ManifestInvalid, match="declares"):
        store_document(database, store, name, wrong, document, SPDX_MEDIA_TYPE)
    assert referrers(database, name, subject) == []


def test_unsupported_media_type_rejected(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)

    with pytest.raises(ValueError, match="not supported"):
        store_document(database, store, name, subject, b"{}", "application/json")


def test_created_annotation_required(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)
    document = documents(name, subject)[SPDX_MEDIA_TYPE]

    with database.session() as session, pytest.raises(ValueError, match="created"):
        store_sbom(
            session,
            store,
            repository_name=name,
            subject=subject,
            document=document,
            document_media_type=SPDX_MEDIA_TYPE,
            annotations={},
        )


def test_invalid_document_rejected(
    database: Database, store: BlobStore, python_app: Path
) -> None:
    name = unique_repository()
    subject = push_image(database, store, python_app, name)

    with pytest.raises(ValueError, match="not valid JSON"):
        store_document(database, store, name, subject, b"<sbom/>", SPDX_MEDIA_TYPE)
