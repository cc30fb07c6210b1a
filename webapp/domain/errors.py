"""The domain's own errors: what went wrong in the project's words, never an HTTP status.

``webapp/errors.py`` maps each class to its HTTP answer (status, JSON or page) in one place, so
the domain can run outside a request (the CLI, the worker, a job) and still refuse with a reason.
"""


class DomainError(Exception):
    """A refusal with a message a person can act on, a machine ``slug`` and per-field messages."""

    default_slug = "error"

    def __init__(self, message: str, slug: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.slug = slug or self.default_slug
        self.fields = fields


class BadParameter(DomainError):
    """A parameter that cannot be read at all (a limit that is not a number, a foreign cursor)."""

    default_slug = "bad_request"


class Invalid(DomainError):
    """A well-formed request whose values do not hold (``fields`` says which and why)."""

    default_slug = "validation_failed"


class Unauthenticated(DomainError):
    """Nobody is signed in."""

    default_slug = "unauthorized"

    def __init__(self, message: str = "sign in first"):
        super().__init__(message)


class NotPermitted(DomainError):
    """The principal's role does not carry the capability."""

    default_slug = "forbidden"


class OutOfScope(DomainError):
    """A camera outside the principal's camera scope (the same answer whether it exists or not)."""

    default_slug = "forbidden"


class NotFound(DomainError):
    """No such thing (or none the principal may know of)."""

    default_slug = "not_found"


class Conflict(DomainError):
    """The change does not fit the current state (a gap's state, an overlapping window)."""

    default_slug = "conflict"
