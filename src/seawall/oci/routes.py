"""Every `/v2/` route, in match order: uploads before blobs, fixed paths first."""

from __future__ import annotations

from starlette.routing import BaseRoute

from seawall.oci import base, blobs, listings, manifests, token, uploads

routes: list[BaseRoute] = [
    *base.routes,
    *token.routes,
    *listings.routes,
    *uploads.routes,
    *blobs.routes,
    *manifests.routes,
]
