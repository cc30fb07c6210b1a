"""Axis: replayed from a template the operator sets (or added as an ONVIF camera)."""

from .base import Vendor
from .base import register

VENDOR = register(Vendor(name="axis", label="Axis"))
