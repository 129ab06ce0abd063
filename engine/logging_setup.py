"""Log records as text (uvicorn's style) or as one JSON object a line, each with the id of
the request it was written for (GAMIFY_LOG_FORMAT)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TextIO

from uvicorn.logging import DefaultFormatter

from core.request_context import current_request_id

LOG_FORMATS = ("text", "json")


class RequestIdFilter(logging.Filter):
    """Stamps records with the current request's id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        record.request_id = request_id
        record.request_tag = f" [{request_id}]" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing to `stream` (stderr by default) in `log_format`, with request ids."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            DefaultFormatter("%(levelprefix)s %(name)s%(request_tag)s: %(message)s")
        )
    return handler


def configure_logging(log_format: str, *, verbose: bool) -> None:
    """Our, arq's and uvicorn's records through one handler (uvicorn is started with
    `log_config=None`, so its loggers propagate here)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[log_handler(log_format)],
        force=True,
    )
    logging.getLogger("tortoise").setLevel(logging.WARNING)
