"""The audit page (manager+): filters, keyset pages and CSV download, scoped to the viewer."""

import csv
import io
import json
from datetime import datetime

from flask import Blueprint
from flask import Response
from flask import make_response
from flask import request
from flask import stream_with_context
from flask_login import current_user
from flask_login import login_required
from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import select

from ..domain.paging import decode_cursor
from ..domain.paging import encode_cursor
from ..domain.principal import require
from ..domain.principal import require_in_scope
from ..domain.principal import scoped
from ..domain.times import parse_time
from ..errors import Problem
from ..extensions import db
from ..models import AuditLog
from ..models import Camera
from ..models import rfc3339
from ..pages.forms import AuditFilterForm
from ..pages.rendering import is_htmx
from ..pages.rendering import render_page
from .present import action_label
from .present import present

bp = Blueprint("audit", __name__)
PAGE_ROWS = 50
CSV_MAX_ROWS = 100_000


@bp.before_request
@login_required
def authenticate():
    """The audit log needs a signed-in manager or admin."""


@bp.context_processor
def audit_words():
    """The audit templates print rows and actions in words (webapp/audit/present.py)."""
    return {"present_audit": present, "action_label": action_label}


def audit_filters() -> dict:
    """The filters of the request, cleaned; a camera outside the reader's scope is a 403."""
    filters = AuditFilterForm(formdata=request.args).values()
    if filters["camera"]:
        require_in_scope(current_user, [filters["camera"]])
    return filters


def _until(raw: str):
    """The end of the time filter; a minute from a ``datetime-local`` input includes its seconds."""
    until = parse_time(raw)
    if until is not None and len(raw) == 16:  # 2026-06-13T12:00
        until = until.replace(second=59, microsecond=999999)
    return until


TIME_FORMAT_HELP = "enter a UTC time as 2026-06-13 14:05 (24-hour)"


def time_range(filters: dict):
    """(since, until, errors by field) of the time filter; "from" after "to" is an error."""
    errors = {}
    since = parse_time(filters["since"]) if filters["since"] else None
    until = _until(filters["until"]) if filters["until"] else None
    if filters["since"] and since is None:
        errors["since"] = TIME_FORMAT_HELP
    if filters["until"] and until is None:
        errors["until"] = TIME_FORMAT_HELP
    if since and until and since > until:
        errors["until"] = "“To” is earlier than “From”: no row can match; swap them or clear one"
    return since, until, errors


def audit_query(filters: dict):
    """Newest-first audit rows the current principal may see, narrowed by ``filters``."""
    # Scoped readers see rows about their cameras only; fleet-level rows are hidden.
    query = scoped(select(AuditLog), AuditLog.subject_camera_id, current_user)
    if filters["camera"]:
        query = query.where(AuditLog.subject_camera_id == filters["camera"])
    if filters["action"]:
        query = query.where(AuditLog.action == filters["action"])
    if filters["actor"]:
        query = query.where(AuditLog.actor_name == filters["actor"])
    since, until, errors = time_range(filters)
    if errors:
        raise Problem(400, f"time filter: {'; '.join(errors.values())}", fields=errors)
    if since:
        query = query.where(AuditLog.created_at >= since)
    if until:
        query = query.where(AuditLog.created_at <= until)
    return query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())


@bp.get("/audit")
def audit_log():
    """The audit log page; htmx "Load more" gets only the next rows."""
    require("read_audit", current_user)
    filters = audit_filters()
    errors = time_range(filters)[2]
    if errors:
        # The filter form says what is wrong beside the field; no rows rather than no answer.
        return _filter_errors(filters, errors)
    query = audit_query(filters)
    before = decode_cursor(request.args.get("before"), datetime, str)
    if before:
        when, row_id = before
        query = query.where(
            or_(AuditLog.created_at < when, and_(AuditLog.created_at == when, AuditLog.id < row_id))
        )
    rows = list(db.session.execute(query.limit(PAGE_ROWS + 1)).scalars())
    next_cursor = None
    if len(rows) > PAGE_ROWS:
        rows = rows[:PAGE_ROWS]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    actions = sorted(db.session.execute(scoped_actions()).scalars())
    return render_page(
        "audit/log.html",
        {"*": "audit_rows"} if before else {"audit-panel": "audit_panel"},
        rows=rows,
        filters=filters,
        next_cursor=next_cursor,
        actions=actions,
        cameras=db.session.execute(
            scoped(select(Camera.id, Camera.name).order_by(Camera.name), Camera.id, current_user)
        ).all(),
    )


def _filter_errors(filters: dict, errors: dict):
    """The page (or its panel, for htmx) with the filter errors shown, as a 400."""
    resp = make_response(
        render_page(
            "audit/log.html",
            {"audit-panel": "audit_panel"},
            rows=[],
            filters=filters,
            filter_errors=errors,
            next_cursor=None,
            actions=sorted(db.session.execute(scoped_actions()).scalars()),
            cameras=db.session.execute(
                scoped(
                    select(Camera.id, Camera.name).order_by(Camera.name), Camera.id, current_user
                )
            ).all(),
        ),
        400,
    )
    if is_htmx():
        resp.headers["HX-Retarget"] = "#audit-panel"
        resp.headers["HX-Reswap"] = "outerHTML"
    return resp


def scoped_actions():
    """The distinct actions of the rows the reader may see (the action filter's choices)."""
    query = scoped(select(AuditLog.action).distinct(), AuditLog.subject_camera_id, current_user)
    return query


@bp.get("/audit.csv")
def audit_csv():
    """Every audit row matching the filters, as CSV (streamed)."""
    require("read_audit", current_user)
    filters = audit_filters()
    query = audit_query(filters).limit(CSV_MAX_ROWS)

    def generate():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(
            [
                "created_at",
                "actor_name",
                "role",
                "action",
                "target_type",
                "target_id",
                "camera_id",
                "ip",
                "detail",
                "detail_text",
            ]
        )
        for row in db.session.execute(query.execution_options(yield_per=1000)).scalars():
            writer.writerow(
                [
                    rfc3339(row.created_at),
                    _cell(row.actor_name),
                    row.role,
                    row.action,
                    row.target_type,
                    row.target_id or "",
                    row.subject_camera_id or "",
                    row.ip or "",
                    _cell(json.dumps(row.detail, sort_keys=True)),
                    _cell(detail_text(row.detail)),
                ]
            )
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=replenish-audit.csv"},
    )


def detail_text(detail) -> str:
    """The detail as a person reads it in a spreadsheet: ``key=value; key=value``, keys sorted.

    Lists are joined with commas, nested objects stay compact JSON, ``None`` is empty."""
    if not isinstance(detail, dict):
        return "" if detail is None else str(detail)
    parts = []
    for key in sorted(detail):
        value = detail[key]
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, list | tuple):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    return "; ".join(parts)


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in free-text cells."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value
