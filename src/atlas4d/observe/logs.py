"""Log lines: every record of the standard `logging` module (ours, uvicorn's, libraries') rendered by structlog,
as one JSON object per line (`ATLAS4D_LOG_FORMAT=json`) or as readable text (`console`), carrying the request
id and, when tracing is on, the trace and span ids of the request being served.

The code keeps logging through `logging.getLogger(...)`; only the rendering is structlog's, set up once per
process by `configure_logging` (`atlas4d serve` and `atlas4d gateway`, in each worker).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from atlas4d.observe import tracing
from atlas4d.observe.http import request_id

_configured: str | None = None


def add_request_context(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    rid = request_id()
    if rid is not None:
        event.setdefault("request_id", rid)
    ids = tracing.current_ids()
    if ids is not None:
        event.setdefault("trace_id", ids[0])
        event.setdefault("span_id", ids[1])
    return event


def uvicorn_records(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """uvicorn logs everything about its server (start-up, shutdown, and errors) through a logger named
    `uvicorn.error`, after gunicorn's "error log"; shown as such, its info lines look like errors. The level
    says what a line is; the logger is shown as `uvicorn`. Its `color_message` extra (the message again, with
    terminal colour codes) is dropped."""
    if event.get("logger") == "uvicorn.error":
        event["logger"] = "uvicorn"
    event.pop("color_message", None)
    return event


def formatter(fmt: str) -> structlog.stdlib.ProcessorFormatter:
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_request_context,
            structlog.stdlib.ExtraAdder(),
            uvicorn_records,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    """Route the root logger through structlog's formatter to stderr (once per process and format)."""
    global _configured
    if _configured == fmt:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_atlas4d", False)]:
        root.removeHandler(old)
    handler._atlas4d = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("httpx", "httpcore"):  # a line per outgoing request at INFO: not news
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()  # uvicorn's own text handlers: the root's renders its records too
        # no access log (a line per request costs the hot path; the metrics count requests). uvicorn's
        # access_log=False only holds until this runs: each `--workers` process configures logging again
        # after uvicorn has, and turning propagation on here turned an access line per request back on.
        logger.propagate = name != "uvicorn.access"
    _configured = fmt
