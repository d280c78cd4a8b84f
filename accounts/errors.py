"""Domain errors. Every app raises these; the API turns them into problem JSON, views into messages.

This module sits in the lowest layer so that every app can import it.
"""


class DomainError(Exception):
    """A use case refused: a stable `code`, an HTTP `status` and a message a user can read."""

    code = "invalid"
    status = 400
    title = "The request cannot be carried out"

    def __init__(self, message: str = "", *, code: str | None = None, errors: dict | None = None):
        super().__init__(message or self.title)
        self.message = message or self.title
        if code:
            self.code = code
        self.errors = errors or {}


class InvalidInput(DomainError):
    code = "invalid"
    status = 400
    title = "The input is not valid"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    title = "Your role does not allow this"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "This conflicts with the current state"


class Busy(DomainError):
    code = "busy"
    status = 503
    title = "Busy, try again in a moment"
