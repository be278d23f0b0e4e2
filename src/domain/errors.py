"""Errors the domain raises; presentation maps each to one HTTP status, app-wide."""


class DomainError(Exception):
    """Base of every error a use case may raise on purpose."""


class NotFound(DomainError):
    """The requested resource does not exist."""


class InvalidInput(DomainError):
    """A value a client sent breaks a rule; `field` names the offending parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Unavailable(DomainError):
    """A backing service cannot answer right now; the client may retry later."""


class Overloaded(DomainError):
    """Too much of this work is already running; the client may retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
