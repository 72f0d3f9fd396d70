"""Harbor's error envelope and code-to-status table for `/api/v2.0`.

Every error leaves as `{"errors": [{"code": ..., "message": ...}]}` with
the status Harbor uses for that code. A 5xx logs its cause with the
request id and returns only `UNKNOWN` with "internal server error".
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import structlog
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from seawall.registry import errors as registry_errors

logger = structlog.get_logger(__name__)


class HarborCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    DENIED = "DENIED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    PRECONDITION = "PRECONDITION"
    REQUEST_ENTITY_TOO_LARGE = "REQUEST_ENTITY_TOO_LARGE"
    UNPROCESSABLE_ENTITY = "UNPROCESSABLE_ENTITY"
    TOO_MANY_REQUEST = "TOO_MANY_REQUEST"
    UNKNOWN = "UNKNOWN"


STATUS: dict[HarborCode, int] = {
    HarborCode.BAD_REQUEST: 400,
    HarborCode.UNAUTHORIZED: 401,
    HarborCode.FORBIDDEN: 403,
    HarborCode.DENIED: 403,
    HarborCode.NOT_FOUND: 404,
    HarborCode.METHOD_NOT_ALLOWED: 405,
    HarborCode.CONFLICT: 409,
    HarborCode.PRECONDITION: 412,
    HarborCode.REQUEST_ENTITY_TOO_LARGE: 413,
    HarborCode.UNPROCESSABLE_ENTITY: 422,
    HarborCode.TOO_MANY_REQUEST: 429,
    HarborCode.UNKNOWN: 500,
}


class HarborError(Exception):
    """An error reply on `/api/v2.0`."""

    def __init__(
        self, code: HarborCode, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers


def bad_request(message: str) -> HarborError:
    return HarborError(HarborCode.BAD_REQUEST, message)


def not_found(message: str) -> HarborError:
    return HarborError(HarborCode.NOT_FOUND, message)


def conflict(message: str) -> HarborError:
    return HarborError(HarborCode.CONFLICT, message)


def forbidden(message: str) -> HarborError:
    return HarborError(HarborCode.FORBIDDEN, message)


def unauthorized(message: str = "unauthorized") -> HarborError:
    return HarborError(
        HarborCode.UNAUTHORIZED,
        message,
        headers={"WWW-Authenticate": 'Basic realm="Seawall Registry"'},
    )


def error_response(
    code: HarborCode, message: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"errors": [{"code": code.value, "message": message}]},
        status_code=STATUS[code],
        headers=headers,
        media_type="application/json; charset=utf-8",
    )


def _log(request: Request, code: HarborCode, message: str) -> None:
    logger.info(
        "api request rejected",
        method=request.method,
        path=request.url.path,
        status=STATUS[code],
        code=code.value,
        reason=message,
        user=getattr(request.state, "username", None),
    )


async def handle_harbor_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HarborError)
    _log(request, exc.code, exc.message)
    request.state.error_message = exc.message
    return error_response(exc.code, exc.message, exc.headers)


_REGISTRY_CODES: list[tuple[type[registry_errors.RegistryError], HarborCode]] = [
    (registry_errors.NameInvalid, HarborCode.BAD_REQUEST),
    (registry_errors.ProjectNotFound, HarborCode.NOT_FOUND),
    (registry_errors.RepositoryNotFound, HarborCode.NOT_FOUND),
    (registry_errors.ManifestNotFound, HarborCode.NOT_FOUND),
    (registry_errors.BlobNotFound, HarborCode.NOT_FOUND),
    (registry_errors.ManifestInUse, HarborCode.PRECONDITION),
    (registry_errors.DigestInvalid, HarborCode.BAD_REQUEST),
    (registry_errors.DigestUnsupported, HarborCode.BAD_REQUEST),
    (registry_errors.ManifestInvalid, HarborCode.BAD_REQUEST),
]


async def handle_registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, registry_errors.RegistryError)
    code = HarborCode.BAD_REQUEST
    for cls, mapped in _REGISTRY_CODES:
        if isinstance(exc, cls):
            code = mapped
            break
    _log(request, code, exc.message)
    request.state.error_message = exc.message
    return error_response(code, exc.message)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe_problem(request, error) for error in exc.errors()]
    message = "; ".join(problems) or "invalid request"
    _log(request, HarborCode.UNPROCESSABLE_ENTITY, message)
    request.state.error_message = message
    return error_response(HarborCode.UNPROCESSABLE_ENTITY, message)


def _describe_problem(request: Request, error: dict[str, Any]) -> str:
    """Word one pydantic validation error for a client of the API."""
    location = [str(part) for part in error.get("loc", ())]
    in_body = bool(location) and location[0] == "body"
    if error.get("type") == "json_invalid":
        detail = error.get("ctx", {}).get("error", "JSON decode error")
        return f"request body is not valid JSON: {detail} at character {location[-1]}"
    field = ".".join(location[1:] if in_body else location)
    if in_body and not field:
        content_type = request.headers.get("content-type", "")
        hint = (
            ""
            if "json" in content_type
            else ("; send it with Content-Type: application/json")
        )
        return f"request body must be a JSON object{hint}"
    return f"{field}: {error.get('msg', 'invalid')}"


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        code = HarborCode.METHOD_NOT_ALLOWED
        message = f"method {request.method} is not allowed on {request.url.path}"
    elif exc.status_code == 404:
        code, message = (
            HarborCode.NOT_FOUND,
            f"no API endpoint matches {request.url.path}",
        )
    else:
        code, message = HarborCode.BAD_REQUEST, str(exc.detail)
    _log(request, code, message)
    return error_response(code, message)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", method=request.method, path=request.url.path)
    return error_response(HarborCode.UNKNOWN, "internal server error")
