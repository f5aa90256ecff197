"""What `create_app` (platform and gateway) and the CLI call to turn observability on, from the settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from starlette.middleware import Middleware

from atlas4d.observe import metrics, tracing
from atlas4d.observe.http import observe_middleware
from atlas4d.observe.logs import configure_logging
from atlas4d.settings import Settings

POOL_SAMPLE_S = 5.0


def setup_observability(settings: Settings) -> None:
    """Metrics instruments (ATLAS4D_METRICS) and tracing (an OTLP endpoint configured); idempotent."""
    if settings.metrics:
        metrics.enable_metrics()
    tracing.configure_tracing(settings.otlp_endpoint)


def setup_logging(settings: Settings) -> None:
    """Log rendering for a server process (json in production unless ATLAS4D_LOG_FORMAT says otherwise)."""
    fmt = settings.log_format or ("json" if settings.production() else "console")
    configure_logging(fmt, settings.log_level)


def observability_middleware() -> list[Middleware]:
    return observe_middleware()


def pool_sampler(pool: Callable[[], object]) -> asyncio.Task[None] | None:
    """This process's pool usage into the gauge every few seconds (and at each scrape), while metrics are on."""
    if metrics.instruments() is None:
        return None
    from atlas4d.observe.ready import pool_usage

    async def sample() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                metrics.pool_usage(pool_usage(pool()))
                await asyncio.sleep(POOL_SAMPLE_S)

    return asyncio.create_task(sample())


def prepare_workers(settings: Settings) -> None:
    """Before uvicorn starts `workers` processes: metrics in files all of them share (PROMETHEUS_MULTIPROC_DIR,
    a fresh temporary folder unless set; a set one is emptied of the last run's files)."""
    import os
    import tempfile
    from pathlib import Path

    if not settings.metrics:
        return
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink(missing_ok=True)
    elif settings.workers > 1:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="atlas4d-metrics-")
