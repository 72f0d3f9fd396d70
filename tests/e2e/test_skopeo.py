"""Push and pull every test image with skopeo and compare the results byte for byte.

skopeo 1.9 copies manifests unchanged, so the digests that Seawall stores
and serves must be the digests in the source layouts, which are also listed
in the test kit's EXPECTED.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.oci_layout import (
    INDEX_MEDIA_TYPES,
    TaggedManifest,
    blob_path,
    read_blob,
    referenced_digests,
    tagged_manifest,
    tagged_manifests,
)
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

ADMIN_CREDENTIALS = f"admin:{ADMIN_PASSWORD}"
SKOPEO_TIMEOUT_SECONDS = 300

# Manifest and index digests of every tagged entry in the kit, from its EXPECTED.md.
EXPECTED_DIGESTS: dict[tuple[str, str], str] = {
    (
        "clean",
        "1.0",
    ): "sha256:3836c461e97d16d443302288015ec7849070c91bf2c32c00a3cb3dad79840657",
    (
        "python-app",
        "1.0",
    ): "sha256:a987c54aa5ea22209666756c506101a554854b695f197821776498f53c0becd2",
    (
        "node-app",
        "1.0",
    ): "sha256:8b0401c8d7d4d5fa203e73c54bcc629c14ac1b750db78e81979ddae9f8a2e77d",
    (
        "java-app",
        "1.0",
    ): "sha256:d5e2238ffb20fb9015ff526547124db837c7ac0e95d9a1b2558e35da1b82b747",
    (
        "multiarch",
        "1",
    ): "sha256:ca6b557dc28fa39a232d6eaaa9f1ad97ab133774fa3ace59afa2b7cb1e16b3cb",
    (
        "artifact",
        "sbom",
    ): "sha256:627175e4da08b5e4b9b330f57f038f9178841d015ad5d042a1ca9096f7ae9c79",
    ("artifact", "python-app-sbom"): (
        "sha256:d8bc2d4e3a1e2746df92d21918ad3319e8d575aec95b827355bea2bf339de98a"
    ),
}
IMAGES = ["clean", "python-app", "node-app", "java-app", "multiarch", "artifact"]
MULTIARCH_CHILDREN = {
    (
        "amd64",
        None,
    ): "sha256:3836c461e97d16d443302288015ec7849070c91bf2c32c00a3cb3dad79840657",
    (
        "arm64",
        "v8",
    ): "sha256:1f9ea65d064449a2f34f0dda52bf6efa5f72eb9467650fdb5cd7d58911b02568",
}


class Skopeo:
    """Run the skopeo binary with an auth file of its own, so no login on the host leaks in."""

    def __init__(self, binary: str, auth_file: Path) -> None:
        self.binary = binary
        self.env = {**os.environ, "REGISTRY_AUTH_FILE": str(auth_file)}

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [self.binary, *args],
            capture_output=True,
            env=self.env,
            timeout=SKOPEO_TIMEOUT_SECONDS,
            check=False,
        )

    def check(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """Run skopeo and fail the test with its output when it exits non-zero."""
        result = self.run(*args)
        if result.returncode != 0:
            pytest.fail(
                f"skopeo {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stderr.decode(errors='replace')[-4000:]}"
            )
        return result


@pytest.fixture(scope="session")
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    binary = shutil.which("skopeo")
    if binary is None:
        pytest.fail(
            "skopeo not found on PATH; install it with `apt-get install -y skopeo`"
        )
    auth_file = tmp_path_factory.mktemp("skopeo") / "auth.json"
    auth_file.write_text('{"auths": {}}')
    return Skopeo(binary, auth_file)


@pytest.fixture
def admin_http(registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
    ) as client:
        yield client


def unique_repository(name: str) -> str:
    return f"library/{name}-{uuid.uuid4().hex[:10]}"


def copy_flags(entry: TaggedManifest) -> list[str]:
    return ["--all"] if entry.media_type in INDEX_MEDIA_TYPES else []


def push(
    skopeo: Skopeo,
    registry: RunningRegistry,
    layout: Path,
    entry: TaggedManifest,
    repo: str,
) -> None:
    skopeo.check(
        "copy",
        *copy_flags(entry),
        "--dest-tls-verify=false",
        "--dest-creds",
        ADMIN_CREDENTIALS,
        f"oci:{layout}:{entry.tag}",
        f"docker://{registry.host}/{repo}:{entry.tag}",
    )


def pull(
    skopeo: Skopeo,
    registry: RunningRegistry,
    repo: str,
    entry: TaggedManifest,
    destination: Path,
    *creds: str,
) -> None:
    skopeo.check(
        "copy",
        *copy_flags(entry),
        "--src-tls-verify=false",
        *(creds or ("--src-creds", ADMIN_CREDENTIALS)),
        f"docker://{registry.host}/{repo}:{entry.tag}",
        f"oci:{destination}:{entry.tag}",
    )


def inspect_raw(
    skopeo: Skopeo, registry: RunningRegistry, reference: str, *creds: str
) -> bytes:
    result = skopeo.check(
        "inspect",
        "--raw",
        "--tls-verify=false",
        *(creds or ("--creds", ADMIN_CREDENTIALS)),
        f"docker://{registry.host}/{reference}",
    )
    return result.stdout


def assert_same_blobs(source: Path, copy: Path, digests: set[str]) -> None:
    for digest in sorted(digests):
        copied = blob_path(copy, digest)
        assert copied.is_file(), f"{digest} missing from the pulled layout"
        assert copied.read_bytes() == read_blob(source, digest), (
            f"{digest} differs after the pull"
        )


def test_kit_covers_every_image(testdata: Path) -> None:
    images = testdata / "images"

    assert sorted(path.name for path in images.iterdir()) == sorted(IMAGES)
    for name in IMAGES:
        for entry in tagged_manifests(images / name):
            assert EXPECTED_DIGESTS[(name, entry.tag)] == entry.digest


@pytest.mark.parametrize("image", IMAGES)
def test_round_trip(
    image: str,
    skopeo: Skopeo,
    registry: RunningRegistry,
    admin_http: httpx.Client,
    testdata: Path,
    tmp_path: Path,
) -> None:
    layout = testdata / "images" / image
    repo = unique_repository(image)
    pulled = tmp_path / "pulled"
    reached: set[str] = set()

    for entry in tagged_manifests(layout):
        push(skopeo, registry, layout, entry, repo)
        pull(skopeo, registry, repo, entry, pulled)

        pulled_entry = tagged_manifest(pulled, entry.tag)
        assert pulled_entry.digest == entry.digest
        assert pulled_entry.digest == EXPECTED_DIGESTS[(image, entry.tag)]
        digests = referenced_digests(layout, entry.digest)
        assert_same_blobs(layout, pulled, digests)
        reached |= digests

        raw = inspect_raw(skopeo, registry, f"{repo}:{entry.tag}")
        assert raw == read_blob(layout, entry.digest)

        head = admin_http.head(
            f"/v2/{repo}/manifests/{entry.tag}", headers={"Accept": entry.media_type}
        )
        assert head.status_code == 200
        assert head.headers.get("docker-content-digest") == entry.digest
        assert head.headers.get("content-type", "").split(";")[0] == entry.media_type

    pulled_blobs = {
        f"sha256:{path.name}" for path in (pulled / "blobs" / "sha256").iterdir()
    }
    assert pulled_blobs == reached


def test_multiarch_keeps_both_children(
    skopeo: Skopeo, registry: RunningRegistry, testdata: Path
) -> None:
    layout = testdata / "images" / "multiarch"
    entry = tagged_manifest(layout, "1")
    repo = unique_repository("multiarch-children")
    push(skopeo, registry, layout, entry, repo)

    index = json.loads(inspect_raw(skopeo, registry, f"{repo}:1"))
    children = {
        (item["platform"]["architecture"], item["platform"].get("variant")): item[
            "digest"
        ]
        for item in index["manifests"]
    }

    assert children == MULTIARCH_CHILDREN
    for digest in children.values():
        assert inspect_raw(skopeo, registry, f"{repo}@{digest}") == read_blob(
            layout, digest
        )


def test_multiarch_platform_pull(
    skopeo: Skopeo, registry: RunningRegistry, testdata: Path, tmp_path: Path
) -> None:
    layout = testdata / "images" / "multiarch"
    entry = tagged_manifest(layout, "1")
    repo = unique_repository("multiarch-arm64")
    push(skopeo, registry, layout, entry, repo)

    skopeo.check(
        "copy",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        "--src-tls-verify=false",
        "--src-creds",
        ADMIN_CREDENTIALS,
        f"docker://{registry.host}/{repo}:1",
        f"oci:{tmp_path / 'arm64'}:1",
    )

    arm64 = MULTIARCH_CHILDREN[("arm64", "v8")]
    assert tagged_manifest(tmp_path / "arm64", "1").digest == arm64
    assert_same_blobs(layout, tmp_path / "arm64", referenced_digests(layout, arm64))


def test_anonymous_pull_from_public_project(
    skopeo: Skopeo, registry: RunningRegistry, testdata: Path, tmp_path: Path
) -> None:
    layout = testdata / "images" / "clean"
    entry = tagged_manifest(layout, "1.0")
    repo = unique_repository("anonymous-pull")
    push(skopeo, registry, layout, entry, repo)

    pull(skopeo, registry, repo, entry, tmp_path / "anonymous", "--src-no-creds")
    raw = inspect_raw(skopeo, registry, f"{repo}:1.0", "--no-creds")

    assert tagged_manifest(tmp_path / "anonymous", "1.0").digest == entry.digest
    assert_same_blobs(
        layout, tmp_path / "anonymous", referenced_digests(layout, entry.digest)
    )
    assert raw == read_blob(layout, entry.digest)


def test_anonymous_push_rejected(
    skopeo: Skopeo, registry: RunningRegistry, admin_http: httpx.Client, testdata: Path
) -> None:
    layout = testdata / "images" / "clean"
    repo = unique_repository("anonymous-push")

    result = skopeo.run(
        "copy",
        "--dest-tls-verify=false",
        "--dest-no-creds",
        f"oci:{layout}:1.0",
        f"docker://{registry.host}/{repo}:1.0",
    )
    stderr = result.stderr.decode(errors="replace").lower()

    assert result.returncode != 0
    assert "unauthorized" in stderr or "authentication required" in stderr, stderr
    response = admin_http.get(f"/v2/{repo}/manifests/1.0")
    assert response.status_code == 404


def test_copy_between_repositories_mounts_layers(
    skopeo: Skopeo, registry: RunningRegistry, admin_http: httpx.Client, testdata: Path
) -> None:
    layout = testdata / "images" / "python-app"
    entry = tagged_manifest(layout, "1.0")
    source = unique_repository("mount-source")
    target = unique_repository("mount-target")
    push(skopeo, registry, layout, entry, source)

    result = skopeo.check(
        "copy",
        "--debug",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        ADMIN_CREDENTIALS,
        "--dest-creds",
        ADMIN_CREDENTIALS,
        f"docker://{registry.host}/{source}:1.0",
        f"docker://{registry.host}/{target}:1.0",
    )
    log = result.stderr.decode(errors="replace")
    manifest = json.loads(read_blob(layout, entry.digest))
    layers = [layer["digest"] for layer in manifest["layers"]]

    # skopeo 1.9 logs each cross-repository mount at debug level: a
    # "Trying to mount" line with the digest, then "... mount OK" on a 201.
    for digest in layers:
        assert f"mount={digest.replace(':', '%3A')}" in log, (
            f"skopeo did not try to mount {digest}"
        )
    assert log.count("... mount OK") == len(layers)
    assert inspect_raw(skopeo, registry, f"{target}:1.0") == read_blob(
        layout, entry.digest
    )
    for digest in referenced_digests(layout, entry.digest) - {entry.digest}:
        head = admin_http.head(f"/v2/{target}/blobs/{digest}")
        assert head.status_code == 200, f"{digest} missing from {target}"


def test_push_to_missing_project_is_refused(
    skopeo: Skopeo, registry: RunningRegistry, testdata: Path
) -> None:
    """skopeo, which logs in with a bearer token, shows the missing project."""
    layout = testdata / "images" / "clean"
    result = skopeo.run(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        ADMIN_CREDENTIALS,
        f"oci:{layout}:1.0",
        f"docker://{registry.host}/no-such-project/app:1.0",
    )
    stderr = result.stderr.decode(errors="replace")

    assert result.returncode != 0
    assert "name unknown" in stderr, stderr
    assert "project 'no-such-project' not found" in stderr, stderr
