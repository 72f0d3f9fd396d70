"""CVSS v3 scoring and the qualitative rating bands."""

from __future__ import annotations

import pytest

from seawall.scan.model import Severity
from seawall.vulndb.osv import parse_document
from seawall.vulndb.severity import highest_cvss, rating, record_severity, score_vector

CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
LOW_VECTOR = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N"  # 3.7


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, Severity.UNKNOWN),
        (0.1, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL),
    ],
)
def test_rating_bands(score: float, expected: Severity) -> None:
    assert rating(score) == expected


def test_score_vector_versions() -> None:
    v31 = score_vector(CRITICAL_VECTOR)
    v30 = score_vector(CRITICAL_VECTOR.replace("3.1", "3.0"))
    assert v31 is not None
    assert v31.score == 9.8
    assert v31.version == "3.1"
    assert v30 is not None
    assert v30.version == "3.0"


def test_invalid_vector_is_none() -> None:
    assert score_vector("CVSS:3.1/AV:X") is None
    assert score_vector("garbage") is None


def test_highest_cvss_skips_invalid() -> None:
    best = highest_cvss(["garbage", LOW_VECTOR, CRITICAL_VECTOR])
    assert best is not None
    assert best.vector == CRITICAL_VECTOR


def test_word_outranks_lower_score() -> None:
    record = parse_document(
        {
            "id": "GHSA-test",
            "severity": [{"type": "CVSS_V3", "score": LOW_VECTOR}],
            "database_specific": {"severity": "MODERATE"},
        }
    )
    rated = record_severity(record, [])
    assert rated.severity == Severity.MEDIUM
    assert rated.cvss is not None
    assert rated.cvss.score == 3.7


def test_score_outranks_lower_word() -> None:
    record = parse_document({"id": "X-1", "database_specific": {"severity": "LOW"}})
    rated = record_severity(record, [CRITICAL_VECTOR])
    assert rated.severity == Severity.CRITICAL


def test_no_severity_is_unknown() -> None:
    rated = record_severity(parse_document({"id": "X-2"}), [])
    assert rated.severity == Severity.UNKNOWN
    assert rated.cvss is None
    assert rated.word is None
