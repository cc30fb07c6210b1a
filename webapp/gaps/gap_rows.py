"""The camera gap table's rows, rendered in Python.

The camera page renders 50 of these per request and each Retry/Stop answers with one (SPEC §11:
the page within a small factor of its database floor). Through ``{% include %}`` every row cost
Jinja a context copy and a dozen calls; built here it costs a few string joins. Every value from
the database goes through ``escape``. The one template-side entry is ``templates/gaps/_row.html``.
"""

from flask import current_app
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from jinja2.filters import do_truncate
from markupsafe import Markup
from markupsafe import escape

from ..domain.principal import can
from ..masking import mask_credentials
from ..models import rfc3339
from ..models import utcnow
from ..presenters import STATE_HELP
from ..presenters import STATE_LABELS
from ..presenters import cached_url_for
from ..presenters import duration_words
from ..presenters import local_parts
from ..presenters import local_time
from ..presenters import relative

_BADGES = {
    s: Markup(
        f'<span class="badge state-{s}" title="{STATE_HELP[s]}"><span class="glyph" '
        f'aria-hidden="true"></span>{STATE_LABELS[s]}</span>'
    )
    for s in STATE_LABELS
}


def _time_cell(value, tz: str, same_day_as=None) -> str:
    """``utc_time`` of macros/ui.html: local date and time with offset, full UTC as the title."""
    if not value:
        return "—"
    day, clock, offset = local_parts(value, tz)
    stamp = rfc3339(value)
    show_day = not same_day_as or local_parts(same_day_as, tz)[0] != day
    day_html = f'<span class="d">{day}</span> ' if show_day else ""
    return (
        f'<time datetime="{stamp}" title="{stamp} (UTC)">{day_html}<span class="to">'
        f'<span class="t">{clock}</span> <span class="o">{offset}</span></span></time>'
    )


class _Rights:
    """What the current principal may do on rows, and the CSRF token: worked out once a page."""

    def __init__(self):
        authenticated = current_user.is_authenticated
        self.retry = authenticated and can(current_user, "retry")
        self.stop = authenticated and can(current_user, "control_fills")
        self.csrf = generate_csrf() if self.retry else ""


def gap_row_html(gap, camera, row_error=None, rights: _Rights | None = None) -> Markup:
    """One ``<tr>`` of the gap table (``rights`` is shared by the rows of one page)."""
    rights = rights or _Rights()
    tz = camera.timezone
    state = gap.fill_state
    gap_id = escape(gap.id)
    parts = [
        f'<tr id="gap-{gap_id}" class="gap-row state-{state}" data-gap-id="{gap_id}">',
        f'<td class="when">{_time_cell(gap.gap_start, tz)}</td>',
        f'<td class="when hide-narrow">{_time_cell(gap.gap_end, tz, gap.gap_start)}</td>',
        f"<td>{duration_words(gap.gap_seconds)}</td>",
        f'<td class="state">{_BADGES[state]}',
    ]
    if state == "filling":
        pct = int(round((gap.progress or 0) * 100))
        parts.append(
            f'<span class="progress-line"><progress max="100" value="{pct}" '
            f'aria-label="Fill progress">{pct} %</progress> <span class="sub">{pct} %</span></span>'
        )
    if gap.manual_retry:
        parts.append('<span class="sub tag" title="An operator asked for this gap">manual</span>')
    parts.append(f'</td><td class="num hide-narrow">{gap.fill_attempts}</td>')
    if gap.last_attempt_at:
        stamp = rfc3339(gap.last_attempt_at)
        parts.append(
            f'<td class="hide-narrow"><time datetime="{stamp}" title="'
            f'{local_time(gap.last_attempt_at, tz)} ({stamp})">'
            f"{relative(gap.last_attempt_at, utcnow())}</time></td>"
        )
    else:
        parts.append('<td class="hide-narrow"><span class="sub">never</span></td>')
    parts.append('<td class="error-cell">')
    if row_error:
        parts.append(f'<p class="row-error" role="alert">{escape(row_error)}</p>')
    if gap.stop_requested_by:
        parts.append(f'<p class="sub">Stop requested by {escape(gap.stop_requested_by)}</p>')
    if gap.last_error:
        shown = mask_credentials(gap.last_error)
        short = do_truncate(current_app.jinja_env, shown, 90)
        parts.append(f'<span title="{escape(shown)}">{escape(short)}</span>')
    elif not row_error:
        parts.append('<span class="sub">—</span>')
    parts.append("</td>")
    if gap.recovered_seconds is not None:
        parts.append(
            f'<td class="num hide-narrow"><span title="{gap.recovered_seconds:.1f} s of '
            f'{gap.gap_seconds} s">{duration_words(gap.recovered_seconds)}</span></td>'
        )
    else:
        parts.append('<td class="num hide-narrow"><span class="sub">—</span></td>')
    if rights.retry:
        parts.append(_actions(gap, camera, rights))
    parts.append("</tr>")
    return Markup("".join(parts))


def _actions(gap, camera, rights: _Rights) -> str:
    """Retry (and Stop on a running fill) forms; both work without JavaScript too."""
    state = gap.fill_state
    retry_url = cached_url_for("gaps.retry_gap_row", camera_id=camera.id, gap_id=gap.id)
    disabled = ""
    if state == "filled":
        disabled = 'disabled title="Already filled: nothing to fetch"'
    elif state == "filling":
        disabled = 'disabled title="A fill is running; Stop it first"'
    html = (
        f'<td class="actions"><form method="post" action="{retry_url}" hx-post="{retry_url}" '
        'hx-target="closest tr" hx-swap="outerHTML" hx-disabled-elt="find button">'
        f'<input type="hidden" name="csrf_token" value="{rights.csrf}">'
        f'<button type="submit" class="small retry" {disabled}>Retry</button></form>'
    )
    if state == "filling" and rights.stop:
        stop_url = cached_url_for("gaps.stop_gap_row", camera_id=camera.id, gap_id=gap.id)
        stopped = 'disabled title="Stop already requested"' if gap.stop_requested_by else ""
        html += (
            f'<form method="post" action="{stop_url}" hx-post="{stop_url}" '
            'hx-target="closest tr" hx-swap="outerHTML" hx-disabled-elt="find button" '
            'hx-confirm="Stop the running fill of this gap? It becomes failed; Retry queues it '
            'again.">'
            f'<input type="hidden" name="csrf_token" value="{rights.csrf}">'
            f'<button type="submit" class="small danger stop" {stopped}>Stop</button></form>'
        )
    return html + "</td>"


def gap_rows_html(rows, camera) -> Markup:
    """Every row of a page of gaps, with the principal's rights worked out once."""
    rights = _Rights()
    return Markup("\n".join(gap_row_html(gap, camera, None, rights) for gap in rows))
