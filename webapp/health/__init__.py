"""Health checks and metrics: /healthz, /readyz, /metrics."""

from .views import bp

__all__ = ["bp"]
