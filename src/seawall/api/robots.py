"""Harbor-compatible `/api/v2.0` routes for robots."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
