"""XML from cameras, parsed with entity expansion and DTDs refused (no XXE, no billion laughs)."""

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from .base import VendorError


class CameraXmlError(VendorError):
    """The camera's answer is not XML we accept (malformed, or it declares a DTD or entities)."""


def parse(data: bytes | str) -> ET.Element:
    """The root element of ``data``; a DTD, an entity or an external reference is refused."""
    try:
        return safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CameraXmlError(f"the camera's XML was refused: {exc}") from None
    except ET.ParseError as exc:
        raise CameraXmlError(f"the camera's answer is not well-formed XML: {exc}") from None


def local(tag: str) -> str:
    """A tag without its namespace: ISAPI firmwares differ in the namespace they declare."""
    return tag.rsplit("}", 1)[-1]


def child(element: ET.Element | None, name: str) -> ET.Element | None:
    """The first direct child called ``name`` (any namespace)."""
    if element is None:
        return None
    return next((c for c in element if local(c.tag) == name), None)


def children(element: ET.Element | None, name: str) -> list[ET.Element]:
    """Every direct child called ``name`` (any namespace)."""
    return [] if element is None else [c for c in element if local(c.tag) == name]


def text(element: ET.Element | None, *path: str) -> str:
    """The stripped text at ``path`` below ``element``, '' when absent."""
    for name in path:
        element = child(element, name)
    return (element.text or "").strip() if element is not None else ""
