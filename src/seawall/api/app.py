"""Assemble the `/api/v2.0` FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from seawall import __version__
from seawall.api import (
    accessories,
    allowlists,
    artifact_copy,
    artifacts,
    cve_export,
    members,
    projects,
    repositories,
    robots,
    scan_all,
    scanners,
    scans,
    security,
    system,
    usergroups,
    users,
)
from seawall.api.audit import FailedChangeAuditMiddleware
from seawall.api.errors import (
    HarborError,
    handle_harbor_error,
    handle_http_exception,
    handle_registry_error,
    handle_unexpected,
    handle_validation_error,
)
from seawall.api.limits import RequestLimitsMiddleware
from seawall.context import RegistryContext
from seawall.registry.errors import RegistryError

API_PREFIX = "/api/v2.0"


def create_api(registry: RegistryContext) -> FastAPI:
    api = FastAPI(
        title="Seawall API",
        version=__version__,
        description="Harbor-compatible REST API of the Seawall registry.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        servers=[{"url": API_PREFIX}],
    )
    api.state.registry = registry
    for module in (
        system,
        allowlists,
        users,
        projects,
        members,
        usergroups,
        robots,
        repositories,
        artifacts,
        artifact_copy,
        accessories,
        scans,
        scan_all,
        scanners,
        security,
        cve_export,
    ):
        api.include_router(module.router)
    api.add_exception_handler(HarborError, handle_harbor_error)
    api.add_exception_handler(RegistryError, handle_registry_error)
    api.add_exception_handler(RequestValidationError, handle_validation_error)
    api.add_exception_handler(HTTPException, handle_http_exception)
    api.add_exception_handler(Exception, handle_unexpected)
    # The last middleware added runs first: every request is audited, then
    # checked against the size and NUL limits.
    api.add_middleware(RequestLimitsMiddleware)
    api.add_middleware(FailedChangeAuditMiddleware, registry=registry)
    return api
