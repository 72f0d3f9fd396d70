"""`Accept` header matching for manifest responses, with RFC 9110 weights."""

from __future__ import annotations

import pytest

from seawall.registry.media_types import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    INDEXES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    accepts,
)


@pytest.mark.parametrize("header", [None, ""])
def test_absent_header_accepts_all(header: str | None) -> None:
    assert accepts(header, OCI_MANIFEST)


@pytest.mark.parametrize("header", ["*/*", "application/*"])
def test_wildcard_accepts_all(header: str) -> None:
    assert accepts(header, DOCKER_MANIFEST_LIST)


def test_exact_type_accepted() -> None:
    assert accepts(OCI_MANIFEST, OCI_MANIFEST)


def test_other_type_rejected() -> None:
    assert not accepts(OCI_INDEX, OCI_MANIFEST)


def test_docker_header_rejects_oci() -> None:
    assert not accepts(f"{DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}", OCI_MANIFEST)


def test_type_in_list_accepted() -> None:
    header = f"{DOCKER_MANIFEST}, {OCI_INDEX}, {OCI_MANIFEST}"
    assert accepts(header, OCI_MANIFEST)


def test_list_without_spaces_accepted() -> None:
    assert accepts(f"{OCI_INDEX},{OCI_MANIFEST}", OCI_MANIFEST)


def test_case_insensitive_type() -> None:
    assert accepts(OCI_MANIFEST.upper(), OCI_MANIFEST)


@pytest.mark.parametrize("header", ["text/*", "application/json", "text/plain"])
def test_unrelated_type_rejected(header: str) -> None:
    assert not accepts(header, OCI_MANIFEST)


@pytest.mark.parametrize(
    "params",
    [";q=0.5", "; q=0.5", ";q=1", ";q=1.0", ";q=0.001", ";q=0.5;level=1"],
)
def test_positive_weight_accepted(params: str) -> None:
    assert accepts(f"{OCI_MANIFEST}{params}", OCI_MANIFEST)


def test_weight_after_other_parameter_accepted() -> None:
    assert accepts(f"{OCI_MANIFEST};level=1;q=0.5", OCI_MANIFEST)


@pytest.mark.parametrize("params", [";q=0", "; q=0", " ;q=0", ";level=1;q=0"])
def test_zero_weight_excludes(params: str) -> None:
    assert not accepts(f"{OCI_MANIFEST}{params}", OCI_MANIFEST)


@pytest.mark.parametrize("weight", ["0.0", "0.00", "0.000", "0."])
def test_zero_decimal_weight_excludes(weight: str) -> None:
    assert not accepts(f"{OCI_MANIFEST};q={weight}", OCI_MANIFEST)


def test_uppercase_zero_weight_excludes() -> None:
    assert not accepts(f"{OCI_MANIFEST};Q=0", OCI_MANIFEST)


def test_zero_weight_wildcard_excludes() -> None:
    assert not accepts("*/*;q=0", OCI_MANIFEST)


def test_zero_weight_other_entry_kept() -> None:
    header = f"{OCI_INDEX};q=0, {OCI_MANIFEST}"
    assert accepts(header, OCI_MANIFEST)


def test_indexes_within_manifest_types() -> None:
    assert INDEXES <= MANIFEST_TYPES
