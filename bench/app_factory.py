"""uvicorn factory for the benchmark: `atlas4d serve`'s app, plus the bulk routes while app.py does not
mount them yet (then it is exactly `atlas4d serve`'s app)."""

from __future__ import annotations

from starlette.applications import Starlette

from atlas4d import bulk
from atlas4d.app import create_app
from atlas4d.settings import Settings


def app() -> Starlette:
    application = create_app(Settings())
    if not any(getattr(r, "path", None) == "/ingest/observations" for r in application.routes):
        application.router.routes.extend(bulk.routes())
    return application
