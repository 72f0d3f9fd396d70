"""Declarations of who may reach each route, read by the route audit test.

Every endpoint of the application carries one declaration: `public` (no
check, such as `GET /api/v2.0/ping`), `authenticated` (any logged-in
caller), or the permission it checks. The test suite walks every route
and fails on an endpoint that has none, so a new route cannot be reached
by accident without a decision about who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

GUARD_ATTRIBUTE = "seawall_guard"


def guarded(declaration: str) -> Callable[[F], F]:
    """Mark an endpoint with the access rule it enforces, such as "repository:pull"."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, GUARD_ATTRIBUTE, declaration)
        return endpoint

    return mark


def public(endpoint: F) -> F:
    """Mark an endpoint that anyone may call."""
    setattr(endpoint, GUARD_ATTRIBUTE, "public")
    return endpoint


def guard_of(endpoint: Callable[..., Any]) -> str | None:
    value = getattr(endpoint, GUARD_ATTRIBUTE, None)
    return value if isinstance(value, str) else None
