"""ONVIF Profile G: card by the search service, replay URI by GetReplayUri (design.md)."""

from .base import Vendor
from .base import register

VENDOR = register(
    Vendor(
        name="onvif",
        label="ONVIF (Profile G)",
        reports_card=True,
        onvif_replay=True,
        client="webapp.anr.vendors.onvif:OnvifClient",
    )
)
