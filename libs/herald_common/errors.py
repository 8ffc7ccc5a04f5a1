"""Typed domain errors. One server interceptor maps them to gRPC status codes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class HeraldError(Exception):
    """Base of every error a handler raises on purpose."""

    code_name = "UNKNOWN"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(HeraldError):
    code_name = "NOT_FOUND"


class AlreadyExists(HeraldError):
    code_name = "ALREADY_EXISTS"


class FailedPrecondition(HeraldError):
    code_name = "FAILED_PRECONDITION"


class Unavailable(HeraldError):
    code_name = "UNAVAILABLE"


class InvalidArgument(HeraldError):
    """Bad input. Carries every field that failed, each with its reason."""

    code_name = "INVALID_ARGUMENT"

    def __init__(self, message: str | None = None, errors: list[FieldError] | None = None) -> None:
        self.errors = list(errors or [])
        if message is None:
            message = "; ".join(str(e) for e in self.errors) or "invalid argument"
        super().__init__(message)


@dataclass
class Rejections:
    """Collects field errors that refuse one field while the rest of a call is kept."""

    items: list[FieldError] = field(default_factory=list)

    def add(self, field_name: str, reason: str) -> None:
        self.items.append(FieldError(field_name, reason))

    def __bool__(self) -> bool:
        return bool(self.items)
