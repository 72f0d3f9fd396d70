"""`GET /v2/`: the API version check that clients use to log in."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seawall.oci.access import authenticate, unauthorized
from seawall.routing import guarded


@guarded("authenticated")
async def version_check(request: Request) -> Response:
    principal = await authenticate(request)
    if principal.anonymous:
        raise unauthorized(request)
    return JSONResponse({})


routes = [Route("/v2/", version_check, methods=["GET", "HEAD"])]
