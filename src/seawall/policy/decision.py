"""The result of every policy check."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # the client's error message and the log line's reason
    rule: str  # name of the deciding rule, such as "project-public-pull"


def allow(reason: str, rule: str) -> Decision:
    return Decision(True, reason, rule)


def deny(reason: str, rule: str) -> Decision:
    return Decision(False, reason, rule)
