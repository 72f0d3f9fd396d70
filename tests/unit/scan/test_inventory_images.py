"""The inventory of the OCI layouts in the shared test kit, against the expected packages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from seawall.scan.inventory import LayerBlob, read_inventory
from seawall.scan.model import Inventory


def _blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def _image_manifests(layout: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (digest, manifest) of every image manifest, following indexes."""
    pending = list(json.loads((layout / "index.json").read_text())["manifests"])
    while pending:
        descriptor = pending.pop(0)
        document = json.loads(_blob_path(layout, descriptor["digest"]).read_text())
        if "manifests" in document:
            pending.extend(document["manifests"])
        else:
            yield descriptor["digest"], document


def _layer_blob(layout: Path, descriptor: dict[str, str]) -> LayerBlob:
    path = _blob_path(layout, descriptor["digest"])

    def open_blob() -> BinaryIO:
        return path.open("rb")

    return LayerBlob(descriptor["digest"], descriptor["mediaType"], open_blob)


def _read(layout: Path, manifest_digest: str, manifest: dict[str, Any]) -> Inventory:
    blobs = [_layer_blob(layout, descriptor) for descriptor in manifest["layers"]]
    return read_inventory(manifest_digest, blobs)


def _expected(testdata: Path, key: str) -> dict[str, Any]:
    expected: dict[str, dict[str, Any]] = json.loads(
        (testdata / "expected-findings.json").read_text()
    )
    return expected[key]


def _comparable(inventory: Inventory) -> list[tuple[object, ...]]:
    return sorted(
        (
            p.ecosystem_release,
            p.name,
            p.version,
            p.source_name,
            p.layer_index,
            p.location,
        )
        for p in inventory.packages
    )


def _expected_rows(packages: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    return sorted(
        (p["ecosystem"], p["name"], p["version"], p["source"], p["layer"], p["path"])
        for p in packages
    )


@pytest.mark.parametrize(
    ("layout", "key"),
    [
        ("clean", "clean:1.0"),
        ("python-app", "python-app:1.0"),
        ("node-app", "node-app:1.0"),
        ("java-app", "java-app:1.0"),
    ],
)
def test_inventory_matches_expected_packages(
    testdata: Path, layout: str, key: str
) -> None:
    expected = _expected(testdata, key)
    [(digest, manifest)] = list(_image_manifests(testdata / "images" / layout))

    inventory = _read(testdata / "images" / layout, digest, manifest)

    assert digest == expected["manifest"]
    assert inventory.manifest_digest == digest
    assert _comparable(inventory) == _expected_rows(expected["packages"])
    assert inventory.warnings == []
    assert inventory.os is not None
    assert (inventory.os.id, inventory.os.version_id) == ("debian", "12")


def test_python_app_details(testdata: Path) -> None:
    layout = testdata / "images" / "python-app"
    [(digest, manifest)] = list(_image_manifests(layout))

    inventory = _read(layout, digest, manifest)
    by_name = {package.name: package for package in inventory.packages}

    assert len(inventory.packages) == 12
    libc6 = by_name["libc6"]
    assert libc6.ecosystem == "Debian"
    assert libc6.source_name == "glibc"
    assert libc6.source_version == "2.36-9+deb12u1"
    assert (
        libc6.purl
        == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12"
    )
    assert libc6.layer_digest == manifest["layers"][0]["digest"]
    assert by_name["zlib1g"].source_name == "zlib"
    assert by_name["ca-certificates"].source_name == "ca-certificates"
    pyyaml = by_name["PyYAML"]
    assert pyyaml.location.endswith("PyYAML-5.3.1-py3.11.egg-info/PKG-INFO")
    assert pyyaml.purl == "pkg:pypi/pyyaml@5.3.1"
    assert pyyaml.layer_digest == manifest["layers"][1]["digest"]
    assert by_name["Django"].ecosystem_release == "PyPI"


def test_node_app_lockfile_is_deduplicated(testdata: Path) -> None:
    layout = testdata / "images" / "node-app"
    [(digest, manifest)] = list(_image_manifests(layout))

    inventory = _read(layout, digest, manifest)

    locations = [package.location for package in inventory.packages]
    assert not any(location.endswith("package-lock.json") for location in locations)
    assert [package.purl for package in inventory.packages] == [
        "pkg:npm/lodash@4.17.15",
        "pkg:npm/minimist@1.2.5",
        "pkg:npm/node-fetch@2.6.0",
    ]


def test_multiarch_children(testdata: Path) -> None:
    expected = _expected(testdata, "multiarch:1")
    layout = testdata / "images" / "multiarch"

    inventories = {
        digest: _read(layout, digest, manifest)
        for digest, manifest in _image_manifests(layout)
    }

    assert len(inventories) == 2
    for child in expected["children"]:
        inventory = inventories[child["manifest"]]
        assert _comparable(inventory) == _expected_rows(child["packages"])
        assert inventory.warnings == []
    arm64 = next(
        c for c in expected["children"] if c["platform"]["architecture"] == "arm64"
    )
    [urllib3] = inventories[arm64["manifest"]].packages
    assert (urllib3.name, urllib3.version, urllib3.layer_index) == (
        "urllib3",
        "1.24.1",
        1,
    )


def test_artifact_layers_are_skipped(testdata: Path) -> None:
    layout = testdata / "images" / "artifact"

    for digest, manifest in _image_manifests(layout):
        inventory = _read(layout, digest, manifest)
        assert inventory.packages == []
        assert len(inventory.warnings) == 1
        assert "is not an image layer; skipped" in inventory.warnings[0]
