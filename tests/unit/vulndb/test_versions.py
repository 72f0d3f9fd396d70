"""Version ordering per ecosystem, through `seawall.vulndb.versions`."""

from __future__ import annotations

import pytest
from univers.versions import (
    AlpineLinuxVersion,
    ComposerVersion,
    DebianVersion,
    GolangVersion,
    MavenVersion,
    PypiVersion,
    RpmVersion,
    RubygemsVersion,
    SemverVersion,
    Version,
)

from seawall.vulndb.versions import parse_version, version_class


def ordered(ecosystem: str, lower: str, higher: str) -> bool:
    cls = version_class(ecosystem)
    assert cls is not None, ecosystem
    low = parse_version(cls, lower)
    high = parse_version(cls, higher)
    assert low is not None, lower
    assert high is not None, higher
    return bool(low < high)


@pytest.mark.parametrize(
    ("ecosystem", "expected"),
    [
        ("Debian:12", DebianVersion),
        ("Ubuntu:22.04:LTS", DebianVersion),
        ("Alpine:v3.19", AlpineLinuxVersion),
        ("Red Hat:enterprise_linux:9", RpmVersion),
        ("Rocky Linux:9", RpmVersion),
        ("AlmaLinux:8", RpmVersion),
        ("PyPI", PypiVersion),
        ("npm", SemverVersion),
        ("crates.io", SemverVersion),
        ("Go", GolangVersion),
        ("Maven", MavenVersion),
        ("RubyGems", RubygemsVersion),
        ("Packagist", ComposerVersion),
    ],
)
def test_version_class_per_ecosystem(ecosystem: str, expected: type[Version]) -> None:
    assert version_class(ecosystem) is expected


def test_unknown_ecosystem_has_no_ordering() -> None:
    assert version_class("NoSuchEcosystem") is None


def test_semver_range_type_uses_semver() -> None:
    assert version_class("PyPI", "SEMVER") is SemverVersion
    assert version_class("Go", "SEMVER") is GolangVersion


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("2.36-9+deb12u1", "2.36-9+deb12u3"),
        ("3.0.9-1", "3.0.11-1~deb12u2"),
        ("1.0~rc1-1", "1.0-1"),  # a tilde sorts before the empty string
        ("1.0-1~bpo1", "1.0-1"),
        ("9.9-1", "1:0.1-1"),  # the epoch outranks the upstream version
        ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"),
        ("0", "0.1"),
    ],
)
def test_debian_order(lower: str, higher: str) -> None:
    assert ordered("Debian:12", lower, higher)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.2.3-r2", "1.2.3-r10"),  # -r is a numeric package release
        ("1.2.3-r10", "1.2.4-r0"),
        ("1.2.3_rc1-r0", "1.2.3-r0"),
        ("1.36.1-r2", "1.36.1-r3"),
    ],
)
def test_alpine_order(lower: str, higher: str) -> None:
    assert ordered("Alpine:v3.19", lower, higher)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("2.0-1.el9", "1:1.0-1.el9"),  # any epoch beats no epoch
        ("1.0-1.el9", "1.0-2.el9"),
        ("1.0-9", "1.0-10"),
        ("1.0~beta-1", "1.0-1"),
    ],
)
def test_rpm_order(lower: str, higher: str) -> None:
    assert ordered("Red Hat:enterprise_linux:9", lower, higher)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0.0-alpha", "1.0.0"),
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.2.5", "1.2.10"),
    ],
)
def test_npm_order(lower: str, higher: str) -> None:
    assert ordered("npm", lower, higher)


def test_npm_short_version_reads_as_patch_zero() -> None:
    short = parse_version(SemverVersion, "1.0")
    full = parse_version(SemverVersion, "1.0.0")
    assert short is not None
    assert short == full


def test_npm_leading_v_accepted() -> None:
    assert parse_version(SemverVersion, "v1.2.3") == parse_version(
        SemverVersion, "1.2.3"
    )


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("2.15.0-rc1", "2.15.0"),
        ("1.0-SNAPSHOT", "1.0"),
        ("1.0-alpha", "1.0-beta"),
        ("1.0-beta", "1.0-rc"),
        ("2.14.1", "2.15.0"),
        ("2.9", "2.10"),
        ("1.0", "1.0-sp1"),
    ],
)
def test_maven_order(lower: str, higher: str) -> None:
    assert ordered("Maven", lower, higher)


def test_maven_final_equals_release() -> None:
    assert parse_version(MavenVersion, "1.0.Final") == parse_version(
        MavenVersion, "1.0"
    )


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("v0.0.0-20210101000000-abcdefabcdef", "v0.0.1"),
        (
            "v1.2.3",
            "v1.2.4-0.20210101000000-abcdefabcdef",
        ),  # pseudo-version after v1.2.3
        ("v1.2.4-0.20210101000000-abcdefabcdef", "v1.2.4"),
        ("v0.0.0-20200101000000-aaaaaaaaaaaa", "v0.0.0-20210101000000-bbbbbbbbbbbb"),
        ("1.2.3", "1.10.0"),
    ],
)
def test_go_order(lower: str, higher: str) -> None:
    assert ordered("Go", lower, higher)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("1.0rc1", "1.0"), ("1.0", "1.0.post1"), ("3.2", "3.2.1"), ("2.10", "2.10.1")],
)
def test_pypi_order(lower: str, higher: str) -> None:
    assert ordered("PyPI", lower, higher)


def test_rubygems_prerelease_order() -> None:
    assert ordered("RubyGems", "1.2.3.pre", "1.2.3")


def test_composer_order() -> None:
    assert ordered("Packagist", "1.2.3-beta1", "1.2.3")


@pytest.mark.parametrize(
    ("cls", "text"),
    [
        (DebianVersion, "garbage!!"),
        (DebianVersion, ""),
        (PypiVersion, "not a version"),
        (SemverVersion, "x"),
        (AlpineLinuxVersion, "abc"),
    ],
)
def test_unparseable_version_is_none(cls: type[Version], text: str) -> None:
    assert parse_version(cls, text) is None
