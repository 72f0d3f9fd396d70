"""Parsing and validation of single OSV records."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from seawall.vulndb.osv import (
    MAX_RECORD_BYTES,
    InvalidRecord,
    normalise_name,
    parse_record,
)


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "TEST-1",
        "modified": "2024-01-02T03:04:05Z",
        "aliases": ["CVE-2024-0001"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Foo_Bar.baz"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "2"}],
                    }
                ],
                "versions": ["1.0"],
            }
        ],
    }
    base.update(fields)
    return base


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def test_valid_record_fields() -> None:
    parsed = parse_record(
        encode(
            record(
                severity=[
                    {
                        "type": "CVSS_V3",
                        "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    }
                ],
                database_specific={"severity": "MODERATE", "cwe_ids": ["CWE-79"]},
                references=[{"type": "WEB", "url": "https://example.test/a"}],
            )
        )
    )
    assert parsed.id == "TEST-1"
    assert parsed.aliases == ["CVE-2024-0001"]
    assert parsed.modified is not None
    assert parsed.modified.isoformat() == "2024-01-02T03:04:05+00:00"
    assert parsed.withdrawn is False
    assert parsed.affected[0].name == "foo-bar-baz"
    assert parsed.affected[0].versions == ["1.0"]
    assert parsed.severity_word == "MODERATE"
    assert parsed.cwe_ids == ["CWE-79"]
    assert parsed.cvss_vectors == ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"]
    assert parsed.references == ["https://example.test/a"]


def test_withdrawn_record() -> None:
    parsed = parse_record(encode(record(withdrawn="2024-02-01T00:00:00Z")))
    assert parsed.withdrawn is True


def test_cvss_v4_vector_not_kept() -> None:
    parsed = parse_record(
        encode(record(severity=[{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}]))
    )
    assert parsed.cvss_vectors == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (encode({"modified": "2024-01-01T00:00:00Z"}), "missing or empty 'id'"),
        (encode(record(id=42)), "missing or empty 'id'"),
        (encode(record(id="x" * 300)), "longer than"),
        (encode(record(aliases="CVE-1")), "'aliases' is not a list of strings"),
        (encode(record(affected={"package": {}})), "'affected' is not a list"),
        (encode(record(affected=[{"ranges": []}])), "'affected[0].package'"),
        (
            encode(record(affected=[{"package": {"ecosystem": "PyPI"}}])),
            "'affected[0].package.name'",
        ),
        (
            encode(
                record(
                    affected=[
                        {
                            "package": {"ecosystem": "PyPI", "name": "x"},
                            "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": 2}]}],
                        }
                    ]
                )
            ),
            "events[0].fixed' is not a string",
        ),
        (
            encode(
                record(
                    affected=[
                        {
                            "package": {"ecosystem": "PyPI", "name": "x"},
                            "ranges": [
                                {"type": "ECOSYSTEM", "events": [{"broken": "1"}]}
                            ],
                        }
                    ]
                )
            ),
            "unknown key 'broken'",
        ),
        (encode(record(modified="yesterday")), "'modified' is not an RFC 3339"),
        (encode(record(summary=["a"])), "'summary' is not a string"),
        (
            encode(record(severity=[{"type": "CVSS_V3", "score": 9}])),
            "score' is not a string",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_invalid_record_rejected(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidRecord, match=re.escape(message)):
        parse_record(raw)


def test_huge_record_rejected() -> None:
    raw = encode(record(details="x" * (MAX_RECORD_BYTES + 1)))
    with pytest.raises(InvalidRecord, match="more than the limit"):
        parse_record(raw)


@pytest.mark.parametrize(
    ("ecosystem", "name", "expected"),
    [
        ("PyPI", "Django", "django"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("PyPI", "Foo__Bar--baz", "foo-bar-baz"),
        ("npm", "@Scope/Name", "@Scope/Name"),
        (
            "Maven",
            "org.apache.logging.log4j:log4j-core",
            "org.apache.logging.log4j:log4j-core",
        ),
        ("Debian:12", "glibc", "glibc"),
    ],
)
def test_normalise_name(ecosystem: str, name: str, expected: str) -> None:
    assert normalise_name(ecosystem, name) == expected
