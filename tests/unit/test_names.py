"""Repository, tag and reference grammar (OCI Distribution v1.1, plus a project)."""

from __future__ import annotations

import hashlib

import pytest

from seawall.registry.errors import DigestInvalid, DigestUnsupported, NameInvalid
from seawall.registry.names import (
    MAX_NAME_LENGTH,
    check_repository_name,
    check_tag,
    is_digest_reference,
    is_tag,
    project_of,
    to_digest,
)
from seawall.storage import Digest

SHA256_HEX = hashlib.sha256(b"seawall").hexdigest()


@pytest.mark.parametrize(
    "name",
    [
        "library/alpine",
        "library/a",
        "library/a/b/c/d",
        "team-1/app",
        "library/my.app",
        "library/my_app",
        "library/my__app",
        "library/my-app",
        "library/my---app",
        "library/0",
        "p/" + "a" * (MAX_NAME_LENGTH - 2),
    ],
)
def test_valid_repository_name(name: str) -> None:
    assert check_repository_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "library/Alpine",
        "Library/alpine",
        "LIBRARY/ALPINE",
    ],
)
def test_uppercase_name_invalid(name: str) -> None:
    with pytest.raises(NameInvalid):
        check_repository_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "library/..",
        "library/../admin",
        "../library/alpine",
        "library/./alpine",
        "library/.alpine",
        "library/alpine.",
        "library/a..b",
    ],
)
def test_dot_segments_invalid(name: str) -> None:
    with pytest.raises(NameInvalid):
        check_repository_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "library//alpine",
        "library/alpine/",
        "/library/alpine",
        "library/alpine//",
        "",
        "/",
    ],
)
def test_empty_component_invalid(name: str) -> None:
    with pytest.raises(NameInvalid):
        check_repository_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "library/a___b",
        "library/a_.b",
        "library/a.-b",
        "library/-alpine",
        "library/alpine-",
        "library/_alpine",
        "library/al pine",
        "library/al:pine",
        "library/al@pine",
        "library/al%2fpine",
        "library\\alpine",
        "library/alpine\x00",
        "library/álpine",
    ],
)
def test_bad_separator_or_character_invalid(name: str) -> None:
    with pytest.raises(NameInvalid):
        check_repository_name(name)


@pytest.mark.parametrize("name", ["library/alpine\n", "library/alpine\r\n"])
def test_trailing_newline_invalid(name: str) -> None:
    with pytest.raises(NameInvalid):
        check_repository_name(name)


def test_longest_name_accepted() -> None:
    name = "library/" + "a" * (MAX_NAME_LENGTH - len("library/"))
    assert check_repository_name(name) == name


def test_name_over_limit_invalid() -> None:
    name = "library/" + "a" * (MAX_NAME_LENGTH - len("library/") + 1)
    with pytest.raises(NameInvalid, match="256 characters"):
        check_repository_name(name)


def test_name_limit_is_255() -> None:
    assert MAX_NAME_LENGTH == 255


@pytest.mark.parametrize("name", ["alpine", "library", "a"])
def test_missing_project_invalid(name: str) -> None:
    with pytest.raises(NameInvalid, match="has no project"):
        check_repository_name(name)


def test_name_error_detail_names_value() -> None:
    with pytest.raises(NameInvalid) as caught:
        check_repository_name("library/Alpine")
    assert caught.value.detail == {"name": "library/Alpine"}


def test_project_of_nested() -> None:
    assert project_of("team/apps/web") == "team"


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "v1.2.3",
        "1",
        "_private",
        "UPPER-case_9",
        "a" * 128,
        "sha256-" + SHA256_HEX,
    ],
)
def test_valid_tag(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    [
        "",
        ".hidden",
        "-dash",
        "a" * 129,
        "v1:2",
        "v1/2",
        "v1 2",
        "v1+2",
        "v1@2",
        "tag\x00",
        "..",
    ],
)
def test_invalid_tag(tag: str) -> None:
    with pytest.raises(NameInvalid):
        check_tag(tag)


@pytest.mark.parametrize("tag", ["latest\n", "v1\r\n"])
def test_tag_trailing_newline_invalid(tag: str) -> None:
    assert not is_tag(tag)


def test_digest_reference_has_colon() -> None:
    assert is_digest_reference(f"sha256:{SHA256_HEX}")


def test_tag_reference_has_no_colon() -> None:
    assert not is_digest_reference("latest")


def test_to_digest_parses() -> None:
    assert to_digest(f"sha256:{SHA256_HEX}") == Digest("sha256", SHA256_HEX)


def test_to_digest_invalid_maps_to_registry_error() -> None:
    with pytest.raises(DigestInvalid):
        to_digest("sha256:../../etc")


def test_to_digest_unsupported_maps_to_registry_error() -> None:
    with pytest.raises(DigestUnsupported):
        to_digest("md5:" + "a" * 32)
