"""The fleet table's rows, rendered in Python.

A thousand cameras must render in milliseconds (SPEC §11: the fleet overview costs O(cameras),
median <= 25 ms). Jinja spends several microseconds on every call and filter, and a fleet row
needs dozens of them, so this one hot loop builds its HTML directly. Every value that comes from
the database goes through ``escape``; the markup is what ``templates/gaps/fleet.html`` documents.
"""

from flask import url_for
from markupsafe import Markup
from markupsafe import escape

from ..domain.states import FILL_STATES
from ..models import rfc3339
from ..models import utcnow
from ..presenters import STATE_LABELS
from ..presenters import duration_words
from ..presenters import local_parts
from ..presenters import relative

_LOWER = {s: STATE_LABELS[s].lower() for s in FILL_STATES}


def fleet_rows_html(rows, camera_endpoint: str) -> Markup:
    """The ``<tr>`` of every fleet row, newest statistics included."""
    # Camera ids are slugs ([a-z0-9_-]), safe in a path as they are: one url_for for all rows.
    shape = url_for(camera_endpoint, camera_id="__camera__")
    now = utcnow()
    out = []
    for row in rows:
        cam = row.camera
        href = shape.replace("__camera__", cam.id)
        name = escape(cam.name)
        counts = row.counts
        attention = row.needs_attention
        badges = (
            "".join(
                f'<a class="badge state-{s}" href="{href}?state={s}"><span class="glyph" '
                f'aria-hidden="true"></span>{counts[s]} {_LOWER[s]}</a> '
                for s in FILL_STATES
                if counts[s]
            )
            or '<span class="sub">none</span>'
        )
        cells = "".join(
            f'<td class="num hide-narrow count-{s}"><a href="{href}?state={s}" '
            f'title="{counts[s]} {_LOWER[s]} gaps of {name}">{counts[s]}</a></td>'
            if counts[s]
            else f'<td class="num hide-narrow count-{s} zero">0</td>'
            for s in FILL_STATES
        )
        newest = row.newest_gap_start
        if newest is not None:
            day, clock, offset = local_parts(newest, cam.timezone)
            stamp = rfc3339(newest)
            when = (
                f'{relative(newest, now)}<div class="sub"><time datetime="{stamp}" '
                f'title="{stamp} (UTC)"><span class="d">{day}</span> <span class="to">'
                f'<span class="t">{clock}</span> <span class="o">{offset}</span></span></time>'
                "</div>"
            )
        else:
            when = '<span class="sub">none</span>'
        anr = (
            '<span class="pill on">ANR on</span>'
            if cam.anr_enabled
            else '<span class="pill off">ANR off</span>'
        )
        tag = ' · <span class="attention-tag">needs attention</span>' if attention else ""
        out.append(
            f'<tr class="{"attention" if attention else ""}">'
            f'<th scope="row"><a href="{href}">{name}</a>'
            f'<div class="sub">{escape(cam.id)}{tag}</div></th>'
            f'<td class="hide-narrow">{escape(cam.site)}</td>'
            f'<td class="hide-narrow">{anr}</td>'
            f'<td class="show-narrow">{badges}</td>{cells}'
            f'<td class="num">{duration_words(row.missing_seconds)}</td>'
            f'<td class="when">{when}</td></tr>'
        )
    return Markup("\n".join(out))
