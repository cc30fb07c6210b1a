"""The state colours stay apart for colour-blind operators and readable as text, light and dark.

Simulation: Machado, Oliveira & Fernandes (2009), severity 1.0, applied in linear sRGB.
Difference: CIE76 ΔE in CIELAB (D65). The colours are read from static/css/app.css, so the test
checks what the browser draws.
"""

import itertools
import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()
STATES = ("pending", "filling", "filled", "partial", "failed", "expired")
NORMAL = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
DEUTERANOPIA = (
    (0.367322, 0.860646, -0.227968),
    (0.280085, 0.672501, 0.047413),
    (-0.011820, 0.042940, 0.968881),
)
PROTANOPIA = (
    (0.152286, 1.052583, -0.204868),
    (0.114503, 0.786281, 0.099216),
    (-0.003882, -0.048116, 1.051998),
)
MIN_DELTA_E = 10.0


def theme_vars(theme: str) -> dict[str, str]:
    """The custom properties of the light ``:root`` block, or of the dark-scheme one over it."""
    light = re.search(r":root\s*\{(.*?)\}", CSS, re.S).group(1)
    found = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", light))
    if theme == "dark":
        dark = re.search(
            r"@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{(.*?)\}", CSS, re.S
        ).group(1)
        found.update(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", dark))
    return found


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def simulate(colour, matrix) -> tuple[float, float, float]:
    """Linear RGB as seen through ``matrix``, clipped to the gamut."""
    lin = [linear(c) for c in colour]
    mixed = (sum(m * v for m, v in zip(row, lin, strict=True)) for row in matrix)
    return tuple(min(1.0, max(0.0, value)) for value in mixed)


def lab(lin) -> tuple[float, float, float]:
    """CIELAB (D65) of a linear-RGB colour."""
    r, g, b = lin
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e(a, b) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5


def contrast(a, b) -> float:
    """WCAG contrast ratio of two sRGB colours."""

    def lum(c):
        r, g, b = (linear(v) for v in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_simulation_matches_known_values():
    """Pure red and green collapse under deuteranopia, and the maths says so."""
    red = lab(simulate((255, 0, 0), DEUTERANOPIA))
    green = lab(simulate((0, 128, 0), DEUTERANOPIA))
    assert delta_e(lab(simulate((255, 0, 0), NORMAL)), lab(simulate((0, 128, 0), NORMAL))) > 80
    assert delta_e(red, green) < 25
    white = lab(simulate((255, 255, 255), PROTANOPIA))
    assert white[0] == pytest.approx(100, abs=0.5)
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(
    "vision", [NORMAL, DEUTERANOPIA, PROTANOPIA], ids=["normal", "deuteranopia", "protanopia"]
)
def test_every_pair_of_state_colours_stays_apart(theme, vision):
    colours = theme_vars(theme)
    seen = {s: lab(simulate(rgb(colours[s]), vision)) for s in STATES}
    close = [
        (a, b, round(delta_e(seen[a], seen[b]), 1))
        for a, b in itertools.combinations(STATES, 2)
        if delta_e(seen[a], seen[b]) < MIN_DELTA_E
    ]
    assert not close, close


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_state_colours_are_readable_as_text(theme):
    """Badges and counts print the state colour on the panel and page backgrounds."""
    colours = theme_vars(theme)
    for name in (*STATES, "accent", "muted"):
        for ground in ("panel", "bg"):
            ratio = contrast(rgb(colours[name]), rgb(colours[ground]))
            assert ratio >= 4.5, (theme, name, ground, round(ratio, 2))
