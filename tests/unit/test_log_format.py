"""How log lines name their logger: uvicorn's server lines come from a logger called `uvicorn.error` (after
gunicorn's error log) whatever their level; both formats show them as `uvicorn`, so an info line does not read
as an error, while the level still says what each line is; uvicorn's `color_message` extra (terminal codes) is
not rendered."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from atlas4d.observe.logs import formatter


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, list[logging.Handler]]]:
    stream = io.StringIO()
    handlers: list[logging.Handler] = []
    yield stream, handlers
    for handler in handlers:
        for name in ("uvicorn.error", "atlas4d.db"):
            logging.getLogger(name).removeHandler(handler)


def emit(captured: tuple[io.StringIO, list[logging.Handler]], fmt: str) -> list[str]:
    stream, handlers = captured
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt))
    handlers.append(handler)
    for name in ("uvicorn.error", "atlas4d.db"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    logging.getLogger("uvicorn.error").info("Application startup complete.")  # what uvicorn itself logs
    logging.getLogger("uvicorn.error").info(
        "Finished server process [%d]",
        42,
        extra={"color_message": "Finished server process [\x1b[36m%d\x1b[0m]"},
    )
    logging.getLogger("uvicorn.error").error("Exception in ASGI application")
    logging.getLogger("atlas4d.db").info("pool ready")
    return stream.getvalue().splitlines()


def test_console_lines_name_uvicorn_not_its_error_logger(
    captured: tuple[io.StringIO, list[logging.Handler]],
) -> None:
    started, finished, failed, ours = emit(captured, "console")
    assert "Application startup complete." in started and "[info     ]" in started
    assert "Finished server process [42]" in finished and "color_message" not in finished
    assert "[uvicorn]" in started and "uvicorn.error" not in started
    assert "[error    ]" in failed and "[uvicorn]" in failed
    assert "[atlas4d.db]" in ours


def test_json_lines_name_uvicorn_not_its_error_logger(
    captured: tuple[io.StringIO, list[logging.Handler]],
) -> None:
    started, finished, failed, ours = (json.loads(line) for line in emit(captured, "json"))
    assert (started["logger"], started["level"]) == ("uvicorn", "info")
    assert finished["event"] == "Finished server process [42]" and "color_message" not in finished
    assert (failed["logger"], failed["level"]) == ("uvicorn", "error")
    assert ours["logger"] == "atlas4d.db"
