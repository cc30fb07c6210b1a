"""The shape of a vendor declaration and the registry that holds them."""

from dataclasses import dataclass

REPLAY_CLOCKS = ("utc", "local")


@dataclass(frozen=True)
class Vendor:
    """What one camera vendor is and can do; plain data, so the domain and models can read it.

    ``client`` names the engine's client class by dotted path (``module:Class``) so that this
    layer never imports ``webapp.anr``; empty when the vendor answers no card question.
    """

    name: str
    label: str
    replay_template: str | None = None  # the default replay URL (placeholders of anr/replay.py)
    clock: str = "utc"  # the zone the camera reads replay times in (utc or local)
    can_download: bool = False  # a download API for the card's recorded files
    reports_card: bool = False  # says what its card holds (coverage)
    onvif_replay: bool = False  # ONVIF Profile G: replay URI by SOAP, RTSP with clock ranges
    client: str = ""

    @property
    def has_replay_source(self) -> bool:
        """Whether a camera of this vendor can be replayed without a template of its own."""
        return bool(self.replay_template) or self.onvif_replay


_REGISTRY: dict[str, Vendor] = {}


def register(declaration: Vendor) -> Vendor:
    """Add a vendor to the registry (each vendor module calls this once at import)."""
    if declaration.clock not in REPLAY_CLOCKS:
        raise ValueError(f"vendor {declaration.name}: clock must be one of {REPLAY_CLOCKS}")
    _REGISTRY[declaration.name] = declaration
    return declaration


def registry() -> dict[str, Vendor]:
    """Every registered vendor by name, in registration order."""
    return dict(_REGISTRY)


def vendor(name: str | None) -> Vendor:
    """The declaration of ``name``; an unknown name reads as ``generic`` (nothing assumed)."""
    return _REGISTRY.get(name or "", _REGISTRY["generic"])
