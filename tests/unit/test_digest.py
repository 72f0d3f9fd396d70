"""Digest parsing: the only algorithms and encodings that reach a storage path."""

from __future__ import annotations

import hashlib

import pytest

from seawall.storage import (
    Digest,
    InvalidDigest,
    UnsupportedDigest,
    digest_bytes,
    parse_digest,
)

SHA256_HEX = hashlib.sha256(b"seawall").hexdigest()
SHA512_HEX = hashlib.sha512(b"seawall").hexdigest()


def test_sha256_accepted() -> None:
    digest = parse_digest(f"sha256:{SHA256_HEX}")
    assert digest == Digest("sha256", SHA256_HEX)


def test_sha512_accepted() -> None:
    digest = parse_digest(f"sha512:{SHA512_HEX}")
    assert digest == Digest("sha512", SHA512_HEX)


def test_str_round_trips() -> None:
    assert str(parse_digest(f"sha256:{SHA256_HEX}")) == f"sha256:{SHA256_HEX}"


@pytest.mark.parametrize(
    "value",
    [
        "md5:" + hashlib.md5(b"x", usedforsecurity=False).hexdigest(),
        "sha1:" + hashlib.sha1(b"x", usedforsecurity=False).hexdigest(),
        "sha384:" + hashlib.sha384(b"x").hexdigest(),
        "blake3:" + "a" * 64,
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
    ],
)
def test_unregistered_algorithm_unsupported(value: str) -> None:
    with pytest.raises(UnsupportedDigest):
        parse_digest(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256",
        "sha256:",
        f":{SHA256_HEX}",
        SHA256_HEX,
        f"sha256:{SHA256_HEX[:-1]}",
        f"sha256:{SHA256_HEX}0",
        f"sha512:{SHA256_HEX}",
        f"sha256:{SHA512_HEX}",
        f"sha256:{SHA256_HEX.upper()}",
        f"SHA256:{SHA256_HEX}",
        f"sha256:{'g' * 64}",
        f"sha256:{SHA256_HEX[:-1]}=",
        f"sha256:{SHA256_HEX[:-1]}_",
        f"sha256:{SHA256_HEX[:-1]}-",
        f"sha256:{SHA256_HEX}\n",
        f"sha256:{SHA256_HEX} ",
        f" sha256:{SHA256_HEX}",
        f"sha256:{SHA256_HEX}\x00",
        f"sha256:sha256:{SHA256_HEX}",
    ],
)
def test_malformed_digest_invalid(value: str) -> None:
    with pytest.raises(InvalidDigest):
        parse_digest(value)


@pytest.mark.parametrize(
    "value",
    [
        "sha256:../../etc",
        "sha256:../../etc/passwd",
        f"sha256:../{SHA256_HEX[3:]}",
        f"sha256:{SHA256_HEX[:31]}/{SHA256_HEX[32:]}",
        f"sha256:{SHA256_HEX[:30]}/../{SHA256_HEX[33:]}",
        f"sha256:{SHA256_HEX[:63]}\\",
        "../sha256:" + SHA256_HEX,
        f"sha256/../..:{SHA256_HEX}",
        f"sha256:{SHA256_HEX[:62]}..",
        f"sha256:{SHA256_HEX[:63]}%2f",
    ],
)
def test_path_traversal_invalid(value: str) -> None:
    with pytest.raises(InvalidDigest):
        parse_digest(value)


def test_digest_bytes_sha256() -> None:
    assert digest_bytes(b"seawall") == Digest("sha256", SHA256_HEX)


def test_digest_bytes_sha512() -> None:
    assert digest_bytes(b"seawall", "sha512") == Digest("sha512", SHA512_HEX)


def test_hasher_matches_algorithm() -> None:
    hasher = parse_digest(f"sha512:{SHA512_HEX}").hasher()
    hasher.update(b"seawall")
    assert hasher.hexdigest() == SHA512_HEX
