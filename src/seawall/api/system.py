"""System routes: ping, health, system information and configurations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from seawall import __version__
from seawall.api.audit import audit_context
from seawall.api.deps import public_route, registry_of, system_guard
from seawall.api.errors import bad_request
from seawall.api.projects import harbor_time
from seawall.audit import AuditOperation, record
from seawall.auth import Principal
from seawall.configuration import KEYS, InvalidConfiguration, load, update
from seawall.policy import SystemResource

router = APIRouter()


@router.get(
    "/ping", response_class=PlainTextResponse, dependencies=[Depends(public_route)]
)
async def ping() -> str:
    """Return "Pong" when the API is up."""
    return "Pong"


@router.get("/health", dependencies=[Depends(public_route)])
async def health(request: Request) -> dict[str, Any]:
    """Report the status of the core and its database."""
    registry = registry_of(request)

    def check_database() -> str:
        try:
            with registry.db.session(read_only=True) as session:
                load(session)
        except Exception:
            return "unhealthy"
        return "healthy"

    database = await run_in_threadpool(check_database)
    components = [
        {"name": "core", "status": "healthy"},
        {"name": "database", "status": database},
    ]
    status = "healthy" if database == "healthy" else "unhealthy"
    return {"status": status, "components": components}


@router.get("/systeminfo")
async def systeminfo(
    request: Request, principal: Principal = Depends(public_route)
) -> dict[str, Any]:
    """Return Harbor's general system information; more fields once logged in."""
    registry = registry_of(request)
    values = registry.configuration.values()
    info: dict[str, Any] = {
        "auth_mode": values["auth_mode"],
        "primary_auth_mode": False,
        "self_registration": values["self_registration"],
        "harbor_version": f"seawall-{__version__}",
        "banner_message": "",
        "oidc_provider_name": "",
    }
    if principal.anonymous:
        return info
    external = registry.settings.external_url or str(request.base_url).rstrip("/")
    info.update(
        {
            "with_notary": False,
            "with_chartmuseum": False,
            "registry_url": external.split("://", 1)[-1],
            "external_url": external,
            "project_creation_restriction": values["project_creation_restriction"],
            "has_ca_root": False,
            "registry_storage_provider_name": "filesystem",
            "read_only": False,
            "notification_enable": False,
            "current_time": harbor_time(datetime.now(UTC)),
        }
    )
    return info


@router.get("/configurations")
async def get_configurations(
    request: Request,
    principal: Principal = Depends(system_guard(SystemResource.CONFIGURATION, "read")),
) -> dict[str, Any]:
    """Return every configuration key as `{"value": ..., "editable": ...}`."""
    values = registry_of(request).configuration.values()
    return {
        name: {"value": values[name], "editable": True}
        for name, key in KEYS.items()
        if not key.secret
    }


@router.put("/configurations", response_class=Response)
async def put_configurations(
    request: Request,
    changes: dict[str, Any],
    principal: Principal = Depends(
        system_guard(SystemResource.CONFIGURATION, "update")
    ),
) -> None:
    """Validate and store configuration changes; the whole request applies or none of it."""
    registry = registry_of(request)
    context = audit_context(request, principal)

    def store() -> None:
        with registry.db.session() as session:
            update(session, changes)
            record(
                session,
                **context,
                operation=AuditOperation.UPDATE,
                resource_type="configuration",
                resource=",".join(sorted(changes)),
            )

    try:
        await run_in_threadpool(store)
    except InvalidConfiguration as exc:
        raise bad_request(str(exc)) from exc
    if "robot_name_prefix" in changes:
        # Remembered robot logins were matched under the old prefix.
        registry.credentials_changed()
    else:
        registry.metadata_changed()
