"""Push and pull OCI artifacts and their referrers with oras-py over plain HTTP.

oras-py's `push` builds a new manifest from files and sends it with
`requests`' `json=`, which re-serializes it. The kit's artifact manifests
must keep their digests, so they are pushed through the lower-level
methods of `oras.provider.Registry`: `upload_blob` for each blob and
`do_request` for the manifest bytes. The high-level `push`, `pull` and
`get_manifest` are exercised as well.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import oras.oci
import oras.provider
import pytest
import requests

from tests.support.oci_layout import (
    TaggedManifest,
    blob_path,
    read_blob,
    referenced_digests,
    sha256_digest,
    tagged_manifest,
)
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SBOM_TYPE = "application/vnd.example.sbom+json"
PYTHON_APP_DIGEST = (
    "sha256:a987c54aa5ea22209666756c506101a554854b695f197821776498f53c0becd2"
)
SBOM_DIGEST = "sha256:627175e4da08b5e4b9b330f57f038f9178841d015ad5d042a1ca9096f7ae9c79"
PYTHON_APP_SBOM_DIGEST = (
    "sha256:d8bc2d4e3a1e2746df92d21918ad3319e8d575aec95b827355bea2bf339de98a"
)


class SingleAttemptRegistry(oras.provider.Registry):
    """oras-py's registry client with its retry loop switched off.

    `Registry.do_request` in oras-py 0.2 retries a 500 response or a
    connection error five times with waits growing to 83 s, and then raises.
    The tests want the registry's first response, so this calls the
    undecorated method.
    """

    def do_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        return oras.provider.Registry.do_request.__wrapped__(self, *args, **kwargs)  # type: ignore[no-any-return]


@pytest.fixture
def oras_registry(registry: RunningRegistry, tmp_path: Path) -> SingleAttemptRegistry:
    client = SingleAttemptRegistry(
        hostname=registry.host, insecure=True, auth_backend="basic"
    )
    client.auth.set_basic_auth("admin", ADMIN_PASSWORD)
    # An empty Docker config keeps credentials of the host out of the test.
    (tmp_path / "docker-config.json").write_text('{"auths": {}}')
    return client


@pytest.fixture
def admin_http(registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
    ) as client:
        yield client


def unique_repository(name: str) -> str:
    return f"library/{name}-{uuid.uuid4().hex[:10]}"


def push_as_is(
    client: SingleAttemptRegistry, layout: Path, entry: TaggedManifest, target: str
) -> requests.Response:
    """Upload the blobs of `entry` with oras-py, then PUT its manifest bytes unchanged."""
    container = client.get_container(target)
    for digest in sorted(referenced_digests(layout, entry.digest) - {entry.digest}):
        path = blob_path(layout, digest)
        layer = {"digest": digest, "size": path.stat().st_size}
        response = client.upload_blob(str(path), container, layer)
        assert response.status_code in (200, 201), (
            f"upload of {digest} returned {response.status_code}: {response.text}"
        )
    return client.do_request(
        f"{client.prefix}://{container.manifest_url()}",
        "PUT",
        data=read_blob(layout, entry.digest),
        headers={"Content-Type": entry.media_type},
    )


def get_raw_manifest(client: SingleAttemptRegistry, target: str) -> requests.Response:
    container = client.get_container(target)
    return client.do_request(
        f"{client.prefix}://{container.manifest_url()}",
        "GET",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
    )


def referrers(
    http: httpx.Client, repo: str, digest: str, artifact_type: str | None = None
) -> httpx.Response:
    url = f"/v2/{repo}/referrers/{digest}"
    if artifact_type is not None:
        # `+` must reach the registry as %2B, or it would decode as a space.
        url = f"{url}?artifactType={quote(artifact_type, safe='')}"
    return http.get(url)


@pytest.mark.parametrize("tag", ["sbom", "python-app-sbom"])
def test_artifact_round_trip(
    tag: str, oras_registry: SingleAttemptRegistry, testdata: Path, tmp_path: Path
) -> None:
    layout = testdata / "images" / "artifact"
    entry = tagged_manifest(layout, tag)
    target = f"{unique_repository('oras-artifact')}:{tag}"
    source = read_blob(layout, entry.digest)

    pushed = push_as_is(oras_registry, layout, entry, target)
    fetched = get_raw_manifest(oras_registry, target)
    by_digest = get_raw_manifest(
        oras_registry, target.replace(f":{tag}", f"@{entry.digest}")
    )
    files = oras_registry.pull(target=target, outdir=str(tmp_path / "pulled"))

    assert pushed.status_code == 201, pushed.text
    assert pushed.headers.get("Docker-Content-Digest") == entry.digest
    assert fetched.status_code == 200
    assert fetched.content == source
    assert fetched.headers.get("Docker-Content-Digest") == entry.digest
    assert fetched.headers.get("Content-Type", "").split(";")[0] == OCI_MANIFEST
    assert by_digest.content == source
    assert oras_registry.get_manifest(target) == json.loads(source)
    layer = json.loads(source)["layers"][0]
    assert [Path(file).name for file in files] == [
        layer["annotations"]["org.opencontainers.image.title"]
    ]
    assert Path(files[0]).read_bytes() == read_blob(layout, layer["digest"])


def test_artifact_blobs_download(
    oras_registry: SingleAttemptRegistry, testdata: Path, tmp_path: Path
) -> None:
    layout = testdata / "images" / "artifact"
    entry = tagged_manifest(layout, "python-app-sbom")
    target = f"{unique_repository('oras-blobs')}:python-app-sbom"
    assert push_as_is(oras_registry, layout, entry, target).status_code == 201

    for digest in sorted(referenced_digests(layout, entry.digest) - {entry.digest}):
        outfile = oras_registry.download_blob(target, digest, str(tmp_path / digest))
        assert Path(outfile).read_bytes() == read_blob(layout, digest), digest


def test_chunked_blob_upload(
    oras_registry: SingleAttemptRegistry, tmp_path: Path
) -> None:
    target = f"{unique_repository('oras-chunked')}:1"
    blob = tmp_path / "payload.bin"
    blob.write_bytes(bytes(range(256)) * 40 + b"tail")
    digest = sha256_digest(blob.read_bytes())
    layer = {"digest": digest, "size": blob.stat().st_size}

    response = oras_registry.upload_blob(
        str(blob), target, layer, do_chunked=True, chunk_size=1000
    )
    downloaded = oras_registry.download_blob(
        target, digest, str(tmp_path / "downloaded.bin")
    )

    assert response.status_code == 201, response.text
    assert response.headers.get("Docker-Content-Digest") == digest
    assert Path(downloaded).read_bytes() == blob.read_bytes()


def test_referrers_list_sbom(
    oras_registry: SingleAttemptRegistry, admin_http: httpx.Client, testdata: Path
) -> None:
    repo = unique_repository("oras-referrers")
    image_layout = testdata / "images" / "python-app"
    artifact_layout = testdata / "images" / "artifact"
    image = tagged_manifest(image_layout, "1.0")
    with_subject = tagged_manifest(artifact_layout, "python-app-sbom")
    without_subject = tagged_manifest(artifact_layout, "sbom")

    assert (
        push_as_is(oras_registry, image_layout, image, f"{repo}:1.0").status_code == 201
    )
    pushed = push_as_is(
        oras_registry, artifact_layout, with_subject, f"{repo}:python-app-sbom"
    )
    assert (
        push_as_is(
            oras_registry, artifact_layout, without_subject, f"{repo}:sbom"
        ).status_code
        == 201
    )
    response = referrers(admin_http, repo, PYTHON_APP_DIGEST)

    assert pushed.status_code == 201
    assert pushed.headers.get("OCI-Subject") == PYTHON_APP_DIGEST
    assert response.status_code == 200
    assert response.headers.get("content-type", "").split(";")[0] == OCI_INDEX
    index = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    referrer_manifest = json.loads(read_blob(artifact_layout, with_subject.digest))
    assert index["manifests"] == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": PYTHON_APP_SBOM_DIGEST,
            "size": with_subject.size,
            "artifactType": SBOM_TYPE,
            "annotations": referrer_manifest["annotations"],
        }
    ]


def test_referrers_artifact_type_filter(
    oras_registry: SingleAttemptRegistry, admin_http: httpx.Client, testdata: Path
) -> None:
    repo = unique_repository("oras-filter")
    image_layout = testdata / "images" / "python-app"
    artifact_layout = testdata / "images" / "artifact"
    image = tagged_manifest(image_layout, "1.0")
    referrer = tagged_manifest(artifact_layout, "python-app-sbom")
    assert (
        push_as_is(oras_registry, image_layout, image, f"{repo}:1.0").status_code == 201
    )
    assert (
        push_as_is(oras_registry, artifact_layout, referrer, f"{repo}:sbom").status_code
        == 201
    )

    matching = referrers(admin_http, repo, PYTHON_APP_DIGEST, SBOM_TYPE)
    other = referrers(
        admin_http, repo, PYTHON_APP_DIGEST, "application/vnd.example.other"
    )

    assert matching.status_code == 200
    assert [item["digest"] for item in matching.json()["manifests"]] == [
        PYTHON_APP_SBOM_DIGEST
    ]
    assert matching.headers.get("OCI-Filters-Applied") == "artifactType"
    assert other.status_code == 200
    assert other.json()["manifests"] == []
    assert other.headers.get("OCI-Filters-Applied") == "artifactType"


def test_referrers_before_subject_exists(
    oras_registry: SingleAttemptRegistry, admin_http: httpx.Client, testdata: Path
) -> None:
    # A registry must accept a referrer whose subject is not pushed yet.
    repo = unique_repository("oras-early-referrer")
    layout = testdata / "images" / "artifact"
    referrer = tagged_manifest(layout, "python-app-sbom")

    pushed = push_as_is(oras_registry, layout, referrer, f"{repo}:python-app-sbom")
    response = referrers(admin_http, repo, PYTHON_APP_DIGEST)

    assert pushed.status_code == 201, pushed.text
    assert response.status_code == 200
    assert [item["digest"] for item in response.json()["manifests"]] == [
        PYTHON_APP_SBOM_DIGEST
    ]


def test_referrers_of_unknown_subject(admin_http: httpx.Client) -> None:
    repo = unique_repository("oras-no-referrers")
    admin_http.post(
        f"/v2/{repo}/blobs/uploads/?digest={sha256_digest(b'x')}", content=b"x"
    )

    response = referrers(admin_http, repo, "sha256:" + "2" * 64)

    assert response.status_code == 200
    assert response.json()["manifests"] == []


def test_push_files_with_subject(
    oras_registry: SingleAttemptRegistry,
    admin_http: httpx.Client,
    testdata: Path,
    tmp_path: Path,
) -> None:
    repo = unique_repository("oras-push")
    image_layout = testdata / "images" / "python-app"
    image = tagged_manifest(image_layout, "1.0")
    assert (
        push_as_is(oras_registry, image_layout, image, f"{repo}:1.0").status_code == 201
    )
    report = tmp_path / "scan-report.json"
    report.write_text('{"findings": []}\n')
    subject = oras.oci.Subject(OCI_MANIFEST, image.digest, image.size)

    pushed = oras_registry.push(
        target=f"{repo}:scan-report",
        files=[f"{report}:application/vnd.example.report+json"],
        manifest_annotations={"org.example.kind": "scan"},
        subject=subject,
        disable_path_validation=True,
        config_path=str(tmp_path / "docker-config.json"),
        quiet=True,
    )
    files = oras_registry.pull(
        target=f"{repo}:scan-report",
        outdir=str(tmp_path / "pulled"),
        config_path=str(tmp_path / "docker-config.json"),
    )
    listed = referrers(admin_http, repo, image.digest).json()["manifests"]

    assert pushed.status_code == 201
    assert [Path(file).name for file in files] == ["scan-report.json"]
    assert Path(files[0]).read_bytes() == report.read_bytes()
    assert [item["digest"] for item in listed] == [
        pushed.headers["Docker-Content-Digest"]
    ]
    assert listed[0]["annotations"] == {"org.example.kind": "scan"}


def test_uploads_after_auth_challenge(
    oras_registry: SingleAttemptRegistry, tmp_path: Path
) -> None:
    # oras-py's Basic backend sends each request without credentials first
    # and repeats it with them on the same keep-alive connection after the
    # 401. The registry must either read the rejected body or announce
    # `Connection: close`, or the repeated PUT finds the connection closed.
    target = f"{unique_repository('oras-challenge')}:1"
    failures = []
    for attempt in range(30):
        blob = tmp_path / f"layer-{attempt}.bin"
        blob.write_bytes(bytes([attempt]) * 512 * 1024)
        layer = {
            "digest": sha256_digest(blob.read_bytes()),
            "size": blob.stat().st_size,
        }
        try:
            response = oras_registry.upload_blob(str(blob), target, layer)
        except requests.ConnectionError as exc:
            failures.append(f"upload {attempt}: {exc}")
            continue
        if response.status_code != 201:
            failures.append(f"upload {attempt}: status {response.status_code}")

    assert failures == []
