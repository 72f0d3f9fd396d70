"""Severity of OSV records: CVSS v3 base scores and their qualitative rating."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from cvss import CVSS3
from cvss.exceptions import CVSSError

from seawall.scan.model import Cvss, Severity
from seawall.vulndb.osv import OsvRecord

logger = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RecordSeverity:
    """The severity data of one record: its word, its best vector, and the resulting rating."""

    severity: Severity
    word: str | None
    cvss: Cvss | None


def score_vector(vector: str) -> Cvss | None:
    """Compute the base score of a CVSS v3.0 or v3.1 vector, or None when it is invalid."""
    try:
        parsed = CVSS3(vector)
    except CVSSError as exc:
        logger.warning("CVSS vector not parsed", vector=vector, error=str(exc))
        return None
    version = "3.0" if vector.startswith("CVSS:3.0/") else "3.1"
    return Cvss(score=float(parsed.base_score), vector=vector, version=version)


def rating(score: float) -> Severity:
    """Map a CVSS v3 base score to the CVSS v3.1 qualitative rating."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score >= 0.1:
        return Severity.LOW
    return Severity.UNKNOWN


def highest_cvss(vectors: list[str]) -> Cvss | None:
    """Return the highest-scoring valid vector of `vectors`, the first on a tie."""
    best: Cvss | None = None
    for vector in vectors:
        scored = score_vector(vector)
        if scored is not None and (best is None or scored.score > best.score):
            best = scored
    return best


def record_severity(record: OsvRecord, extra_vectors: list[str]) -> RecordSeverity:
    """Rate one record: the higher of its severity word and its best CVSS v3 score.

    `extra_vectors` are vectors from the record's `affected[]` entries for the
    package being matched. CVSS v4 vectors are not scored.
    """
    cvss = highest_cvss([*record.cvss_vectors, *extra_vectors])
    from_word = Severity.parse(record.severity_word)
    from_score = rating(cvss.score) if cvss else Severity.UNKNOWN
    return RecordSeverity(
        severity=max(from_word, from_score),
        word=record.severity_word,
        cvss=cvss,
    )
