"""Evidence routes: a gap's footage, an archive file (byte ranges), the signed export ZIP."""

from pathlib import Path

from flask import Response
from flask import current_app
from flask import jsonify
from flask import send_file
from flask import stream_with_context
from flask import url_for
from flask_login import current_user

from ..domain import evidence
from ..domain.gap_actions import gap_of
from ..domain.principal import camera_for
from ..errors import Problem
from ..extensions import db
from ..models import rfc3339
from . import bp


def _root() -> Path:
    return Path(current_app.config["ANR_RECORDINGS_DIR"])


def footage_json(camera_id: str, files: list[evidence.FootageFile]) -> list[dict]:
    """The footage list as the API and the Watch page give it."""
    return [
        {
            "name": f.name,
            "start": rfc3339(f.start),
            "end": rfc3339(f.end),
            "seconds": f.seconds,
            "size_bytes": f.size_bytes,
            "sha256": f.sha256,
            "url": url_for("api.archive_file", camera_id=camera_id, name=f.name),
        }
        for f in files
    ]


@bp.get("/cameras/<camera_id>/recording-gaps/<gap_id>/footage")
def gap_footage(camera_id: str, gap_id: str):
    """The archive files that overlap the gap's window, with their hashes (any viewer)."""
    camera = camera_for(current_user, camera_id)
    gap = gap_of(camera, gap_id)
    return jsonify({"files": footage_json(camera.id, evidence.footage(camera.id, gap))})


@bp.get("/cameras/<camera_id>/archive/<name>")
def archive_file(camera_id: str, name: str):
    """One archive MP4; byte ranges (206) so a browser's <video> can seek (any viewer)."""
    camera = camera_for(current_user, camera_id)  # scope (403) before the name or the file (404)
    path = evidence.archive_path(_root(), camera.id, name)
    resp = send_file(path, mimetype="video/mp4", conditional=True, max_age=0)
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


@bp.post("/cameras/<camera_id>/recording-gaps/<gap_id>/export")
def export_evidence(camera_id: str, gap_id: str):
    """The gap's signed evidence ZIP (manager+), streamed; audited ``evidence_export``."""
    camera = camera_for(current_user, camera_id, "export_evidence")
    gap = gap_of(camera, gap_id)
    root = _root()
    files = [(f, root / camera.id / f.name) for f in evidence.footage(camera.id, gap)]
    present = [(f, path) for f, path in files if path.is_file()]
    if not present:
        raise Problem(409, "no archive file overlaps this gap's window: nothing to export")
    key = evidence.signing_key(current_app.instance_path)
    evidence.record_export(camera, gap, [f for f, _ in present], current_user)
    head = evidence.manifest_head(camera, gap, current_user)  # includes the export's audit row
    db.session.commit()
    name = f"evidence-{camera.id}-{gap.gap_start.strftime('%Y%m%d_%H%M%S')}.zip"
    resp = Response(
        stream_with_context(evidence.export_zip(head, present, key)), mimetype="application/zip"
    )
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp
