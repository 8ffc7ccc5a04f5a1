"""structlog JSON logs to stdout; a request id bound through contextvars."""

from __future__ import annotations

import logging
import sys
import time
import uuid

import orjson
import structlog
from structlog.contextvars import bind_contextvars, get_contextvars

REQUEST_ID_KEY = "request_id"
REQUEST_ID_HEADER = "x-request-id"

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _orjson_dumps(obj, default=None) -> str:
    return orjson.dumps(obj, default=default).decode()


class _JsonLines(logging.Formatter):
    """Standard-library records (APScheduler, Alembic, httpx...) as the same JSON lines."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "event": record.getMessage(),
            "logger": record.name,
            "level": record.levelname.lower(),
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + "Z",
            "service": self.service,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _orjson_dumps(line)


def configure_logging(service: str, level: str = "info") -> None:
    numeric = _LEVELS.get(level.lower(), logging.INFO)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonLines(service))
    handler.formatter.converter = time.gmtime
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    # Libraries' chatter ("Context impl ...", "Scheduler started", "Added job ...") is noise in
    # a service's log: only their warnings matter here.
    for noisy in ("alembic", "sqlalchemy", "grpc", "asyncio", "apscheduler", "aiosmtplib", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps, default=str),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    bind_contextvars(service=service)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return get_contextvars().get(REQUEST_ID_KEY)


def bind_request_id(request_id: str | None = None) -> str:
    request_id = request_id or new_request_id()
    bind_contextvars(**{REQUEST_ID_KEY: request_id})
    return request_id


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
