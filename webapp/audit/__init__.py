"""The audit package: the single audit writer (``record``) and the audit page."""

from .writer import record

__all__ = ["record"]
