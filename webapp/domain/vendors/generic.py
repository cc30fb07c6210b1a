"""Any other camera: replayed from the template the operator sets; nothing assumed."""

from .base import Vendor
from .base import register

VENDOR = register(Vendor(name="generic", label="Generic (replay URL template)"))
