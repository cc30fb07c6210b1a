"""Camera vendor APIs: card coverage (what the SD card holds) and download of its recordings.

Which vendor has which client is declared in webapp/domain/vendors/ (one module per vendor).
"""

import importlib

from ...domain.vendors import vendor as vendor_of
from .base import MAX_ITEMS
from .base import MAX_XML_BYTES
from .base import CardCoverage
from .base import DownloadStopped
from .base import Recording
from .base import Refused
from .base import Unsupported
from .base import VendorClient
from .base import VendorError
from .ratelimit import TokenBucket
from .ratelimit import shared_bucket

__all__ = [
    "CardCoverage",
    "DownloadStopped",
    "Recording",
    "Refused",
    "Unsupported",
    "VendorClient",
    "VendorError",
    "client_for",
    "shared_bucket",
]


def client_for(
    camera,
    password: str,
    *,
    timeout_s: float = 15.0,
    max_kbps: float = 0.0,
    max_xml_bytes: int = MAX_XML_BYTES,
    max_items: int = MAX_ITEMS,
    secrets: tuple[str, ...] = (),
) -> VendorClient | None:
    """The vendor client of a Camera row, or None when its vendor answers no card question.

    ``max_kbps`` is the worker-wide cap (``ANR_MAX_KBPS``); the camera's own ``max_kbps`` adds
    a second bucket, so whichever is tighter holds. ``max_xml_bytes`` and ``max_items`` bound
    what the camera's answers may make the worker read (design.md, "Hostile cameras").
    """
    declared = vendor_of(camera.vendor)
    if not declared.reports_card or not declared.client or not camera.address:
        return None
    own = getattr(camera, "max_kbps", None)
    buckets = (shared_bucket(max_kbps), TokenBucket(own) if own else None)
    common = dict(
        channel=camera.channel, timezone=camera.timezone or "UTC", timeout_s=timeout_s,
        buckets=buckets, max_xml_bytes=max_xml_bytes, max_items=max_items, secrets=secrets,
    )  # fmt: skip
    module, _, name = declared.client.partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls.for_camera(camera, password, **common)
