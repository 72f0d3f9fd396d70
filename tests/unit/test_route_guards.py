"""Every route of the application declares who may call it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from seawall.app import create_app
from seawall.cli.migrate import prepare
from seawall.routing import guard_of
from seawall.settings import Settings

# FastAPI adds this route itself; it serves the API description to anyone.
FRAMEWORK_PUBLIC = {"/openapi.json"}


def _api_route_guard(route: APIRoute) -> str | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is not None and guard_of(dependency.call) is not None:
            return guard_of(dependency.call)
        pending.extend(dependency.dependencies)
    return None


def _api_routes(routes: list[Any]) -> list[Any]:
    """Flatten FastAPI's routes, including those of routers added with include_router."""
    flat = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            flat.extend(_api_routes(list(original.routes)))
        else:
            flat.append(route)
    return flat


def _all_guards(tmp_path: Path) -> dict[str, str | None]:
    settings = Settings(data_dir=tmp_path, admin_password="Route-Guard-1")
    prepare(settings)
    app = create_app(settings)
    guards: dict[str, str | None] = {}
    for route in app.routes:
        if isinstance(route, Mount):
            for inner in _api_routes(list(route.routes)):
                if isinstance(inner, APIRoute):
                    key = f"{sorted(inner.methods)} {route.path}{inner.path}"
                    guards[key] = _api_route_guard(inner)
                elif isinstance(inner, Route) and inner.path in FRAMEWORK_PUBLIC:
                    guards[f"{route.path}{inner.path}"] = "public"
                elif isinstance(inner, Route):
                    guards[f"{route.path}{inner.path}"] = guard_of(inner.endpoint)
        elif isinstance(route, Route):
            guards[f"{sorted(route.methods or [])} {route.path}"] = guard_of(
                route.endpoint
            )
    return guards


def test_every_route_declares_guard(tmp_path: Path) -> None:
    unguarded = [path for path, guard in _all_guards(tmp_path).items() if guard is None]
    assert unguarded == []


def test_route_count_plausible(tmp_path: Path) -> None:
    # Guards the walk itself: an empty or partial walk would pass the test above.
    assert len(_all_guards(tmp_path)) >= 20


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("['GET', 'HEAD'] /v2/{name:path}/manifests/{reference}", "repository:pull"),
        ("['PUT'] /v2/{name:path}/manifests/{reference}", "repository:push"),
        ("['GET'] /api/v2.0/configurations", "system configuration:read"),
    ],
)
def test_known_route_guards(tmp_path: Path, route: str, expected: str) -> None:
    assert _all_guards(tmp_path)[route] == expected
