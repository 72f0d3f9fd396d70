"""Harbor-compatible `/api/v2.0` routes for repositories."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
