"""Harbor-compatible `/api/v2.0` routes for projects."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
