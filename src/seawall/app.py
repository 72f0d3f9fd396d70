"""Assemble the ASGI application from settings."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Mount

from seawall import heap, oci
from seawall.api import create_api
from seawall.api.app import API_PREFIX
from seawall.context import RegistryContext
from seawall.jobs.periodic import every
from seawall.logs import configure_logging
from seawall.middleware import RequestContextMiddleware
from seawall.oci.errors import (
    OciError,
    handle_http_exception,
    handle_oci_error,
    handle_registry_error,
    handle_unexpected,
)
from seawall.registry.errors import RegistryError
from seawall.registry.pulls import FLUSH_INTERVAL_SECONDS
from seawall.settings import Settings

logger = structlog.get_logger(__name__)

UPLOAD_PURGE_INTERVAL_SECONDS = 600
SCHEDULE_CHECK_SECONDS = 30
# After an advisory import, listings show new findings within this time.
REPORT_REFRESH_SECONDS = 30


async def _purge_uploads_forever(registry: RegistryContext) -> None:
    while True:
        try:
            await run_in_threadpool(registry.uploads.purge_expired)
        except Exception:
            logger.exception("upload purge failed")
        await asyncio.sleep(UPLOAD_PURGE_INTERVAL_SECONDS)


def background_jobs(registry: RegistryContext) -> list[asyncio.Task[None]]:
    """Start the timed jobs the settings ask for."""
    settings = registry.settings
    tasks = []
    if settings.vulndb_source:
        from seawall.vulndb.sync import sync_source

        def sync() -> None:
            results = sync_source(registry.db, settings.vulndb_source)
            if any(result.changed_count for result in results):
                registry.metadata_changed()

        tasks.append(
            asyncio.create_task(
                every(
                    settings.vulndb_sync_interval_seconds,
                    "advisory import",
                    sync,
                    lock=settings.data_dir / "vulndb-sync.lock",
                )
            )
        )

    def refresh_reports() -> None:
        from seawall.scan.service import refresh_stale_reports

        refresh_stale_reports(registry.db, registry.epoch)

    tasks.append(
        asyncio.create_task(
            every(
                REPORT_REFRESH_SECONDS,
                "report refresh",
                refresh_reports,
                lock=settings.data_dir / "report-refresh.lock",
            )
        )
    )
    checked = [datetime.now(UTC)]

    def scheduled_scan_all() -> None:
        from seawall.scan.scan_all import run_if_due

        since, checked[0] = checked[0], datetime.now(UTC)
        run_if_due(registry.scans, registry.db, since)

    tasks.append(
        asyncio.create_task(
            every(
                SCHEDULE_CHECK_SECONDS,
                "scheduled scan all",
                scheduled_scan_all,
                lock=settings.data_dir / "scan-schedule.lock",
            )
        )
    )
    return tasks


def create_app(settings: Settings) -> Starlette:
    registry = RegistryContext.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_purge_uploads_forever(registry)),
            asyncio.create_task(
                every(
                    FLUSH_INTERVAL_SECONDS,
                    "pull count flush",
                    lambda: registry.pulls.flush(registry.db),
                )
            ),
        ]
        tasks.extend(background_jobs(registry))
        await run_in_threadpool(registry.scans.recover_interrupted)
        logger.info("worker started", pid=os.getpid())
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            registry.scans.close()
            await run_in_threadpool(registry.pulls.flush, registry.db)
            registry.db.dispose()
            logger.info("worker stopped", pid=os.getpid())

    api = create_api(registry)
    app = Starlette(
        routes=[*oci.routes, Mount(API_PREFIX, app=api)],
        lifespan=lifespan,
        exception_handlers={
            OciError: handle_oci_error,
            RegistryError: handle_registry_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
    app.state.registry = registry
    app.add_middleware(RequestContextMiddleware)
    return app


def create_app_from_environment() -> Starlette:
    """Build the app in a server worker process from `SEAWALL_*` variables."""
    heap.limit_heap_growth()
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
