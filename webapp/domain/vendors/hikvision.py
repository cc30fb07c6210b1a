"""Hikvision: ISAPI card search and download, replay by its RTSP track URL in UTC."""

from .base import Vendor
from .base import register

VENDOR = register(
    Vendor(
        name="hikvision",
        label="Hikvision",
        replay_template=(
            "rtsp://{host}:{port}/Streaming/tracks/{channel}01?starttime={start}&endtime={end}"
        ),
        can_download=True,
        reports_card=True,
        client="webapp.anr.vendors.hikvision:HikvisionClient",
    )
)
