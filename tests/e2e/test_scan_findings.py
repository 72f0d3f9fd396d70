"""Findings of every kit image, scanned through the API of a live registry.

One registry of its own gets all of the kit's OSV advisories through
`seawall vulndb import`. Each test image is pushed with skopeo and scanned
with the built-in scanner through Harbor's scan route. Its
`additions/vulnerabilities` report must contain the same (package, advisory,
severity, fixed version) set as the merged view of `expected-findings.json`,
where a reported advisory matches by any id or alias of its group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.scanning import (
    admin_api,
    artifact_path,
    create_project,
    expected_findings,
    push,
    scan_and_wait,
    scanning_registry,
    skopeo_copy,
)
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

OSV_ZIPS = ("pypi.zip", "ghsa-pypi.zip", "npm.zip", "maven.zip", "debian-12.zip")
PROJECT = "findings"
MULTIARCH_INDEX = (
    "sha256:ca6b557dc28fa39a232d6eaaa9f1ad97ab133774fa3ace59afa2b7cb1e16b3cb"
)

# Advisories whose reported severity or fixed version may differ from the
# kit's merged view, keyed by (image, first id of the kit's group), with the
# reason. Every entry must be justified by the advisory data itself, and no
# image needs one today.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True, slots=True)
class ExpectedImage:
    """One image of the kit: its layout, tag, and the overview it must get."""

    layout: str
    tag: str
    total: int
    severity: str


IMAGES = [
    ExpectedImage("clean", "1.0", 0, "None"),
    ExpectedImage("python-app", "1.0", 54, "Critical"),
    ExpectedImage("node-app", "1.0", 6, "Critical"),
    ExpectedImage("java-app", "1.0", 3, "Critical"),
]

# A finding as compared: package, advisory id (the first id of the kit's
# group when the reported id is one of the group's ids), severity label as
# Harbor writes it, and fixed version ("" when there is none).
Key = tuple[str, str, str, str]


# --- registry and API helpers ----------------------------------------------


@pytest.fixture(scope="module")
def findings_registry(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[RunningRegistry]:
    with scanning_registry(tmp_path_factory, testdata, "findings", OSV_ZIPS) as running:
        with admin_api(running) as client:
            create_project(client, PROJECT)
        yield running


@pytest.fixture
def api(findings_registry: RunningRegistry) -> Iterator[httpx.Client]:
    with admin_api(findings_registry) as client:
        yield client


def push_image(
    registry: RunningRegistry, testdata: Path, layout: str, tag: str
) -> None:
    """Copy a kit layout to `findings/<layout>:<tag>`, every image of an index too."""
    push(registry, testdata, layout, tag, f"{PROJECT}/{layout}:{tag}")


def scan_overview(api: httpx.Client, repository: str, reference: str) -> Any:
    response = api.get(
        artifact_path(PROJECT, repository, reference),
        params={"with_scan_overview": "true"},
    )
    assert response.status_code == 200, response.text
    overviews = response.json().get("scan_overview") or {}
    return next(iter(overviews.values()), None)


def reported_items(
    api: httpx.Client, repository: str, reference: str
) -> list[dict[str, Any]]:
    path = artifact_path(PROJECT, repository, reference)
    response = api.get(f"{path}/additions/vulnerabilities")
    assert response.status_code == 200, response.text
    (document,) = response.json().values()
    return list(document["vulnerabilities"])


# --- expected findings -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpectedFinding:
    """One finding of the kit's merged view."""

    package: str
    installed: str
    ids: tuple[str, ...]
    severity: str  # Harbor's label: Critical, High, Medium, Low or Unknown
    fixed: str

    @property
    def key(self) -> Key:
        return (self.package, self.ids[0], self.severity, self.fixed)


def merged_view(entry: dict[str, Any]) -> list[ExpectedFinding]:
    """Read an image's merged findings from its entry in `expected-findings.json`.

    Images with PyPI packages have `merged_findings`. For the others the
    per-record `findings` are the merged view, because no record of theirs
    is an alias of another.
    """
    if "merged_findings" in entry:
        return [
            ExpectedFinding(
                item["package"],
                item["installed"],
                tuple(item["ids"]),
                item["severity"].title(),
                item["fixed_in"] or "",
            )
            for item in entry["merged_findings"]
        ]
    return [
        ExpectedFinding(
            item["package"],
            item["installed"],
            (item["id"], *item["aliases"]),
            item["severity"].title(),
            item["fixed_in"] or "",
        )
        for item in entry["findings"]
    ]


def reported_ids(item: dict[str, Any]) -> list[str]:
    vendor = item.get("vendor_attributes") or {}
    return [item["id"], *(vendor.get("ids") or [])]


def match_expected(
    item: dict[str, Any], expected: list[ExpectedFinding]
) -> ExpectedFinding | None:
    ids = set(reported_ids(item))
    for finding in expected:
        if finding.package == item["package"] and ids & set(finding.ids):
            return finding
    return None


def reported_keys(
    items: list[dict[str, Any]], expected: list[ExpectedFinding]
) -> list[Key]:
    """Key each reported item, naming it after the kit group it belongs to."""
    keys = []
    for item in items:
        group = match_expected(item, expected)
        advisory = group.ids[0] if group is not None else item["id"]
        keys.append(
            (item["package"], advisory, item["severity"], item["fix_version"] or "")
        )
    return keys


def apply_known_differences(
    image: str, keys: set[Key], expected: set[Key]
) -> tuple[set[Key], set[Key]]:
    """Drop the findings of advisories listed in `KNOWN_DIFFERENCES` from both sides."""
    excused = {advisory for (name, advisory) in KNOWN_DIFFERENCES if name == image}
    unknown = excused - {key[1] for key in expected}
    assert not unknown, f"{image}: KNOWN_DIFFERENCES names no kit group {unknown}"
    return (
        {key for key in keys if key[1] not in excused},
        {key for key in expected if key[1] not in excused},
    )


def assert_findings_match(
    image: str, items: list[dict[str, Any]], expected: list[ExpectedFinding]
) -> None:
    keys = reported_keys(items, expected)
    assert len(keys) == len(set(keys)), f"{image}: duplicate findings {sorted(keys)}"
    reported, expected_keys = apply_known_differences(
        image, set(keys), {finding.key for finding in expected}
    )
    missing = sorted(expected_keys - reported)
    unexpected = sorted(reported - expected_keys)
    assert not missing, f"{image}: expected but not reported: {missing}"
    assert not unexpected, f"{image}: reported but not expected: {unexpected}"
    assert len(items) == len(expected), image


def assert_versions_match(
    image: str, items: list[dict[str, Any]], expected: list[ExpectedFinding]
) -> None:
    for item in items:
        group = match_expected(item, expected)
        assert group is not None, f"{image}: {item['id']} is not expected"
        assert item["version"] == group.installed, (image, item["id"])


def assert_overview(overview: Any, total: int, severity: str) -> None:
    assert overview["scan_status"] == "Success"
    assert overview["summary"]["total"] == total
    assert overview["severity"] == severity


def severity_counts(findings: list[ExpectedFinding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


# --- tests -------------------------------------------------------------------


@pytest.mark.parametrize("image", IMAGES, ids=[image.layout for image in IMAGES])
def test_image_findings_match_kit(
    findings_registry: RunningRegistry,
    api: httpx.Client,
    testdata: Path,
    image: ExpectedImage,
) -> None:
    entry = expected_findings(testdata)[f"{image.layout}:{image.tag}"]
    expected = merged_view(entry)
    push_image(findings_registry, testdata, image.layout, image.tag)

    overview = scan_and_wait(api, PROJECT, image.layout, image.tag)
    items = reported_items(api, image.layout, image.tag)

    name = f"{image.layout}:{image.tag}"
    assert len(expected) == image.total, name
    assert_overview(overview, image.total, image.severity)
    assert overview["summary"]["summary"] == severity_counts(expected)
    assert_findings_match(name, items, expected)
    assert_versions_match(name, items, expected)
    for item in items:
        assert item["artifact_digests"] == [entry["manifest"]], item["id"]


def test_multiarch_children_findings_match_kit(
    findings_registry: RunningRegistry, api: httpx.Client, testdata: Path
) -> None:
    entry = expected_findings(testdata)["multiarch:1"]
    push_image(findings_registry, testdata, "multiarch", "1")

    overview = scan_and_wait(api, PROJECT, "multiarch", "1")

    merged = entry["counts"]["merged"]
    assert_overview(overview, merged["findings"], merged["highest"].title())
    children = {child["platform"]["architecture"]: child for child in entry["children"]}
    assert sorted(children) == ["amd64", "arm64"]
    totals = {"amd64": (0, "None"), "arm64": (8, "High")}
    for architecture, child in children.items():
        digest = child["manifest"]
        expected = merged_view(child)
        name = f"multiarch:1 {architecture}"
        total, severity = totals[architecture]
        assert len(expected) == total, name

        child_overview = scan_overview(api, "multiarch", digest)
        items = reported_items(api, "multiarch", digest)

        assert_overview(child_overview, total, severity)
        assert child_overview["summary"]["summary"] == severity_counts(expected)
        assert_findings_match(name, items, expected)
        assert_versions_match(name, items, expected)

    # The index's report contains the findings of all its images, each marked
    # with the image it was found in.
    index_items = reported_items(api, "multiarch", "1")
    arm64 = children["arm64"]
    assert_findings_match("multiarch:1", index_items, merged_view(arm64))
    for item in index_items:
        assert item["artifact_digests"] == [arm64["manifest"]], item["id"]
    assert entry["index"] == MULTIARCH_INDEX


def test_zstd_layers_give_the_same_findings(
    findings_registry: RunningRegistry,
    api: httpx.Client,
    testdata: Path,
    tmp_path: Path,
) -> None:
    """python-app with its layers recompressed as zstd gives the same findings."""
    expected = merged_view(expected_findings(testdata)["python-app:1.0"])
    # Recompress into a local layout first: pushing with recompression would
    # let skopeo reuse the gzip layers the registry already holds.
    recompressed = skopeo_copy(
        f"oci:{testdata / 'images' / 'python-app'}:1.0",
        f"oci:{tmp_path / 'zstd'}:1.0",
        "--dest-compress-format",
        "zstd",
    )
    assert recompressed.returncode == 0, recompressed.stderr
    result = skopeo_copy(
        f"oci:{tmp_path / 'zstd'}:1.0",
        f"docker://{findings_registry.host}/{PROJECT}/python-app-zstd:1.0",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
    )
    assert result.returncode == 0, result.stderr
    manifest = httpx.get(
        f"{findings_registry.url}/v2/{PROJECT}/python-app-zstd/manifests/1.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        auth=("admin", ADMIN_PASSWORD),
        timeout=30,
    ).json()
    layer_types = {layer["mediaType"] for layer in manifest["layers"]}

    overview = scan_and_wait(api, PROJECT, "python-app-zstd", "1.0")
    items = reported_items(api, "python-app-zstd", "1.0")

    assert layer_types == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    assert_overview(overview, 54, "Critical")
    assert_findings_match("python-app-zstd:1.0", items, expected)
