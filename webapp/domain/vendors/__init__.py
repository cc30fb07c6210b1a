"""Camera vendors as plug-ins: one module per vendor declares what it is and can do.

The camera model, the admin form, the CLI, the replay URL builder, the engine's client factory
and the simulated camera read this registry; nothing else keeps a list of vendors. Adding a
vendor is one module here (plus its client in ``webapp/anr/vendors/`` when it has one).
"""

# isort: skip_file
# Each module registers its declaration when imported: this order is the order of the choices.
from . import hikvision  # noqa: F401
from . import dahua  # noqa: F401
from . import onvif  # noqa: F401
from . import axis  # noqa: F401
from . import generic  # noqa: F401
from .base import REPLAY_CLOCKS
from .base import Vendor
from .base import register
from .base import registry
from .base import vendor

VENDORS = tuple(registry())


def default_replay_clock(name: str) -> str:
    """The replay clock a camera of vendor ``name`` uses unless told otherwise."""
    return vendor(name).clock


__all__ = [
    "REPLAY_CLOCKS",
    "VENDORS",
    "Vendor",
    "default_replay_clock",
    "register",
    "registry",
    "vendor",
]
