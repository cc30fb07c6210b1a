"""Dahua: mediaFileFind card search and download; its firmware reads replay times as local."""

from .base import Vendor
from .base import register

VENDOR = register(
    Vendor(
        name="dahua",
        label="Dahua",
        replay_template="rtsp://{host}:{port}/cam/playback?channel={channel}&subtype=0"
        "&starttime={start_dahua}&endtime={end_dahua}",
        clock="local",
        can_download=True,
        reports_card=True,
        client="webapp.anr.vendors.dahua:DahuaClient",
    )
)
