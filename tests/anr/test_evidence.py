"""Evidence: footage of a filled gap, byte ranges, hashes at write time, signed export, verify."""

import base64
import hashlib
import io
import json
import os
import zipfile
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from tests import factories
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import archive_path
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from tests.anr.test_fill import _archive_with_hole
from tests.page import page
from webapp.anr.indexer import index_all
from webapp.domain import audit
from webapp.domain import evidence
from webapp.extensions import db
from webapp.models import AuditLog
from webapp.models import Segment

CAMERA_PASSWORD = "Zq7:s3cr@t/pw"


@pytest.fixture
def app(anr_app):
    """``login_as`` signs in on the engine app (short timings)."""
    return anr_app


@pytest.fixture
def filled(anr_app, anr_db, simcam):
    """A gap filled by the worker from the simulated camera: (gap id, its archive file)."""
    sim_camera(simcam, name="Gate", site="North yard", timezone="Europe/Berlin")
    factories.make_camera("other")
    gap = factories.make_gap("cam1", recent(), seconds=8)
    run_worker(anr_app)
    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    return gap.id, archive_path(anr_app, "cam1", gap.gap_start)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_worker_hashes_what_it_writes_and_footage_lists_it(anr_db, filled, login_as):
    gap_id, path = filled
    segment = anr_db.session.execute(select(Segment).where(Segment.path == path.name)).scalar_one()
    assert segment.sha256 == _sha(path)

    viewer = login_as("viewer", cameras=["cam1"])
    resp = viewer.get(f"/api/v1/cameras/cam1/recording-gaps/{gap_id}/footage")
    assert resp.status_code == 200
    (item,) = resp.json["files"]
    assert item["name"] == path.name and item["sha256"] == _sha(path)
    assert item["size_bytes"] == path.stat().st_size and item["seconds"] > 7
    assert set(item) == {"name", "start", "end", "seconds", "size_bytes", "sha256", "url"}

    whole = viewer.get(item["url"])
    assert whole.status_code == 200 and whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.data == path.read_bytes()
    part = viewer.get(item["url"], headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.data == path.read_bytes()[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{path.stat().st_size}"


@pytest.mark.parametrize(
    "name",
    [
        "20260101_000000.mp4.part",
        "..%2Fcam1.db",
        "x.mp4",
        "20260101_000000.MP4",
        "20991231_235959.mp4",
    ],
)
def test_archive_names_other_than_an_existing_archive_file_are_404(app, login_as, name):
    with app.app_context():
        factories.make_camera("cam1")
    viewer = login_as("viewer")
    resp = viewer.get(f"/api/v1/cameras/cam1/archive/{name}")
    assert resp.status_code == 404 and resp.json["code"]


def test_out_of_scope_cameras_answer_403_before_any_name_or_gap_check(anr_db, filled, login_as):
    gap_id, path = filled
    outsider = login_as("viewer", cameras=["other"])
    for url in (
        f"/api/v1/cameras/cam1/archive/{path.name}",
        "/api/v1/cameras/cam1/archive/not-a-name",
        f"/api/v1/cameras/cam1/recording-gaps/{gap_id}/footage",
        "/api/v1/cameras/nosuch/archive/20260101_000000.mp4",
    ):
        assert outsider.get(url).status_code == 403, url
    manager = login_as("manager", cameras=["other"])
    resp = manager.post(f"/api/v1/cameras/cam1/recording-gaps/{gap_id}/export")
    assert resp.status_code == 403


def test_export_needs_a_manager(anr_db, filled, login_as):
    gap_id, _ = filled
    for role in ("viewer", "guard"):
        resp = login_as(role).post(f"/api/v1/cameras/cam1/recording-gaps/{gap_id}/export")
        assert resp.status_code == 403 and "export evidence" in resp.json["error"]


def _export(session, gap_id) -> bytes:
    resp = session.post(f"/api/v1/cameras/cam1/recording-gaps/{gap_id}/export")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/zip" and resp.is_streamed
    return resp.data


def test_export_holds_the_files_a_signed_manifest_and_is_audited(anr_app, anr_db, filled, login_as):
    gap_id, path = filled
    manager = login_as("manager", username="mira")
    # The camera's bulk retries, as their writer records them: one named this gap, one did not.
    for ids in ([gap_id, "another-gap"], ["another-gap"]):
        audit.record("anr_retry_failed", "camera", "cam1", camera_id="cam1",
                     detail={"count": len(ids), "gap_ids": ids}, actor=audit.SYSTEM)  # fmt: skip
    anr_db.session.commit()
    data = _export(manager, gap_id)

    zf = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(zf.namelist()) == sorted([path.name, "manifest.json", "manifest.sig"])
    assert zf.read(path.name) == path.read_bytes()
    assert zf.getinfo(path.name).compress_type == zipfile.ZIP_STORED
    manifest_bytes = zf.read("manifest.json")
    manifest = json.loads(manifest_bytes)
    assert manifest["camera"] == {
        "id": "cam1", "name": "Gate", "site": "North yard", "timezone": "Europe/Berlin",
    }  # fmt: skip
    assert manifest["window"]["start_utc"].endswith("Z")
    assert manifest["window"]["start_camera_time"].endswith(("+01:00", "+02:00"))
    (entry,) = manifest["files"]
    assert entry["sha256"] == _sha(path) == entry["sha256_recorded"] and entry["matches_record"]
    assert entry["size_bytes"] == path.stat().st_size
    (run,) = manifest["fill_runs"]
    assert run["method"] == "replay" and run["outcome"] == "filled" and run["bytes"] > 0
    assert run["source"] and CAMERA_PASSWORD not in run["source"]
    assert CAMERA_PASSWORD not in manifest_bytes.decode()
    assert manifest["exported_by"] == {"name": "mira", "role": "manager"}
    assert [a["action"] for a in manifest["audit"]] == ["anr_retry_failed", "evidence_export"]

    key = evidence.signing_key(anr_app.instance_path)
    key.public_key().verify(base64.b64decode(zf.read("manifest.sig")), manifest_bytes)
    key_file = Path(anr_app.instance_path) / evidence.KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600

    row = anr_db.session.execute(
        select(AuditLog).where(AuditLog.action == "evidence_export")
    ).scalar_one()
    assert (row.target_id, row.subject_camera_id, row.actor_name) == (gap_id, "cam1", "mira")
    assert row.detail["files"] == [path.name]
    audit_page = page(manager.get("/audit").get_data(as_text=True))
    assert "Exported evidence" in audit_page.text and path.name in audit_page.text


def test_a_one_byte_change_is_caught_by_both_verify_commands(
    anr_app, anr_db, filled, login_as, tmp_path
):
    gap_id, path = filled
    runner = anr_app.test_cli_runner()
    ok = runner.invoke(args=["anr", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "1 files checked: 0 changed, 0 missing, 0 unhashed" in ok.output

    data = _export(login_as("manager"), gap_id)
    good = tmp_path / "good.zip"
    good.write_bytes(data)
    public = runner.invoke(args=["evidence", "public-key"]).output.strip()
    fine = runner.invoke(args=["evidence", "verify", str(good), "--public-key", public])
    assert fine.exit_code == 0, fine.output

    # One byte of the footage changed, in the ZIP (stored, so the bytes are there as they are).
    offset = data.index(path.read_bytes()[2000:2032]) + 10
    bad = tmp_path / "bad.zip"
    bad.write_bytes(data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :])
    caught = runner.invoke(args=["evidence", "verify", str(bad), "--public-key", public])
    assert caught.exit_code == 1
    assert f"{path.name}: differs from the manifest" in caught.output

    # ... and on disk, size and time unchanged except the one byte.
    stat = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(2010)
        byte = fh.read(1)
        fh.seek(2010)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = runner.invoke(args=["anr", "verify", "--camera", "cam1"])
    assert changed.exit_code == 1 and f"CHANGED cam1/{path.name}" in changed.output

    # A rescan that notices the change keeps the first hash: verify still reports it.
    os.utime(path, None)
    index_all()
    again = runner.invoke(args=["anr", "verify"])
    assert again.exit_code == 1 and f"CHANGED cam1/{path.name}" in again.output

    path.unlink()
    missing = runner.invoke(args=["anr", "verify"])
    assert missing.exit_code == 1 and f"MISSING cam1/{path.name}" in missing.output


def test_a_different_key_or_a_changed_manifest_is_caught(
    anr_app, anr_db, filled, login_as, tmp_path
):
    gap_id, _ = filled
    data = _export(login_as("manager"), gap_id)
    exported = tmp_path / "e.zip"
    exported.write_bytes(data)
    stranger = evidence.public_key_text(Ed25519PrivateKey.generate())
    key_file = tmp_path / "stranger.pub"
    key_file.write_text(stranger + "\n")
    runner = anr_app.test_cli_runner()
    wrong = runner.invoke(args=["evidence", "verify", str(exported), "--public-key", str(key_file)])
    assert wrong.exit_code == 1 and "manifest.sig: the signature does not match" in wrong.output

    # An edited manifest breaks the signature, checked here against the installation's own key.
    src = zipfile.ZipFile(exported)
    manifest = json.loads(src.read("manifest.json"))
    manifest["exported_by"]["name"] = "someone else"
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(edited, "w") as out:
        for name in src.namelist():
            body = json.dumps(manifest).encode() if name == "manifest.json" else src.read(name)
            out.writestr(name, body)
    own = runner.invoke(args=["evidence", "verify", str(edited)])
    assert own.exit_code == 1 and "manifest.sig" in own.output

    # Footage swapped inside a well-formed ZIP (fresh CRC), manifest and signature untouched.
    swapped = tmp_path / "swapped.zip"
    with zipfile.ZipFile(swapped, "w") as out:
        for name in src.namelist():
            out.writestr(name, src.read(name) + (b"x" if name.endswith(".mp4") else b""))
    caught = runner.invoke(args=["evidence", "verify", str(swapped)])
    assert caught.exit_code == 1 and "differs from the manifest (SHA-256)" in caught.output
    assert "manifest.sig" not in caught.output
    garbage = runner.invoke(args=["evidence", "verify", str(exported), "--public-key", "nope"])
    assert garbage.exit_code == 2 and "--public-key" in garbage.output


def test_the_indexer_hashes_files_it_did_not_write(anr_app, anr_db, simcam):
    sim_camera(simcam)
    _archive_with_hole(anr_app, "cam1", recent(), 4, 10, 4)
    index_all()
    rows = anr_db.session.execute(select(Segment)).scalars().all()
    assert len(rows) == 2
    folder = Path(anr_app.config["ANR_RECORDINGS_DIR"]) / "cam1"
    assert all(r.sha256 == _sha(folder / r.path) for r in rows)


def test_pages_offer_watch_and_export_and_show_the_hashes(anr_db, filled, login_as):
    gap_id, path = filled
    digest = _sha(path)
    viewer = login_as("viewer")
    camera_page = page(viewer.get("/cameras/cam1/gaps").get_data(as_text=True))
    row = camera_page.find("tr", id=f"gap-{gap_id}")
    assert "Watch" in row.text and "Export evidence" not in row.text
    manager = login_as("manager")
    row = page(manager.get("/cameras/cam1/gaps").get_data(as_text=True)).find(
        "tr", id=f"gap-{gap_id}"
    )
    assert "Watch" in row.text and "Export evidence" in row.text

    for who in (viewer, manager):
        watch = page(who.get(f"/cameras/cam1/gaps/{gap_id}/watch").get_data(as_text=True))
        video = watch.find("video", id="player")
        assert video.attrs["src"].startswith(f"/api/v1/cameras/cam1/archive/{path.name}")
        assert digest in watch.text and "the gap's window" in watch.text
        assert ("Export evidence" in watch.text) == (who is manager)

    # The gap's detail panel (htmx) lists the file with its hash.
    panel = manager.get(f"/cameras/cam1/gaps/{gap_id}/history", headers={"HX-Request": "true"})
    assert "<html" not in panel.get_data(as_text=True)
    assert digest in page(panel.get_data(as_text=True)).text
    assert "Archive files" in page(panel.get_data(as_text=True)).text


def test_watch_in_the_embed_layout(anr_app, anr_db, filled, login_as):
    gap_id, path = filled
    factories.make_user("vera", "viewer")
    key = {"Authorization": f"Bearer {factories.make_api_key('integration', name='vms')}"}
    minted = anr_app.test_client().post(
        "/api/v1/embed-sessions", json={"username": "vera", "camera_id": "cam1"}, headers=key
    )
    assert minted.status_code == 201, minted.json
    browser = anr_app.test_client()
    assert browser.get(minted.json["url"]).status_code == 302  # the real sign-on of a VMS
    resp = browser.get(f"/embed/cameras/cam1/gaps/{gap_id}/watch")
    assert resp.status_code == 200
    watch = page(resp.get_data(as_text=True))
    assert watch.find("video", id="player") and _sha(path) in watch.text
    links = page(browser.get("/embed/cameras/cam1/gaps").get_data(as_text=True)).hrefs()
    assert f"/embed/cameras/cam1/gaps/{gap_id}/watch" in links


def test_the_export_streams_in_pieces_never_the_whole_file(tmp_path):
    big = tmp_path / "20260101_000000.mp4"
    big.write_bytes(os.urandom(5 * evidence.CHUNK + 123))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    item = evidence.FootageFile(big.name, start, start, 60.0, big.stat().st_size, None)
    key = Ed25519PrivateKey.generate()
    pieces = list(evidence.export_zip({"format": evidence.FORMAT}, [(item, big)], key))
    assert len(pieces) > 5 and max(map(len, pieces)) <= evidence.CHUNK + 4096
    out = tmp_path / "out.zip"
    out.write_bytes(b"".join(pieces))
    assert evidence.verify_export(out, key.public_key()) == []
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert manifest["files"][0]["matches_record"] is None  # no hash was recorded to compare


def test_watch_says_when_the_files_left_the_archive(anr_db, filled, login_as):
    gap_id, path = filled
    path.unlink()
    manager = login_as("manager")
    watch = page(manager.get(f"/cameras/cam1/gaps/{gap_id}/watch").get_data(as_text=True))
    assert "no longer in the archive folder" in watch.text
    assert "missing from the archive" in watch.text
    assert not watch.find_all("video") and "Export evidence" not in watch.text
    resp = manager.post(f"/api/v1/cameras/cam1/recording-gaps/{gap_id}/export")
    assert resp.status_code == 409 and "nothing to export" in resp.json["error"]


def test_segments_indexed_before_hashes_were_kept_get_them_on_a_rescan(anr_app, anr_db, simcam):
    sim_camera(simcam)
    _archive_with_hole(anr_app, "cam1", recent(), 4, 10, 4)
    index_all()
    anr_db.session.execute(Segment.__table__.update().values(sha256=None))
    anr_db.session.commit()
    runner = anr_app.test_cli_runner()
    before = runner.invoke(args=["anr", "verify"])
    assert before.exit_code == 0 and before.output.count("UNHASHED cam1/") == 2

    assert index_all()[0].hashed == 2
    after = runner.invoke(args=["anr", "verify"])
    assert (
        after.exit_code == 0 and "2 files checked: 0 changed, 0 missing, 0 unhashed" in after.output
    )


@pytest.mark.postgres
def test_hash_footage_and_export_on_postgres(require_postgres, make_app, simcam, tmp_path):
    pg_app = make_app(SQLALCHEMY_DATABASE_URI=require_postgres, **FAST_ENGINE)
    with pg_app.app_context():
        db.drop_all()
        db.create_all()
        try:
            sim_camera(simcam)
            gap = factories.make_gap("cam1", recent(), seconds=6)
            run_worker(pg_app)
            assert gap_now(gap.id).fill_state == "filled"
            path = archive_path(pg_app, "cam1", gap.gap_start)
            segment = db.session.execute(select(Segment)).scalar_one()
            assert segment.sha256 == _sha(path)
            factories.make_user("boss", "manager", None, "correct horse 1")
            client = pg_app.test_client()
            client.post("/login", data={"username": "boss", "password": "correct horse 1"})
            resp = client.post(f"/api/v1/cameras/cam1/recording-gaps/{gap.id}/export")
            assert resp.status_code == 200, resp.get_data(as_text=True)
            out = tmp_path / "pg.zip"
            out.write_bytes(resp.data)
            key = evidence.signing_key(pg_app.instance_path).public_key()
            assert evidence.verify_export(out, key) == []
        finally:
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
