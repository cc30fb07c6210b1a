"""Fleet operations over the JSON API: the queue in claim order, refusals, Retry selected,
fill history, and the cameras list at 10,000 cameras."""

from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.conftest import csrf_token_from
from tests.factories import make_camera
from tests.factories import make_gap
from tests.factories import make_user
from webapp.extensions import db as _db
from webapp.models import AuditLog
from webapp.models import Camera
from webapp.models import CameraGapStat
from webapp.models import FillRun
from webapp.models import RecordingGap
from webapp.models import utcnow

GAPS = "/api/v1/cameras/{}/recording-gaps"


def _recent(minutes_ago: float):
    return (utcnow() - timedelta(minutes=minutes_ago)).replace(microsecond=0)


def test_claim_order_manual_then_card_deadline_soonest_first(db, login_as):
    make_camera("short", anr_enabled=True, anr_max_gap_hours="2")  # card keeps 2 h
    make_camera("long", anr_enabled=True)  # the global 72 h
    make_camera("off", anr_enabled=False)
    far = make_gap("long", _recent(30), 60)  # overwritten in about 71.5 h
    near = make_gap("short", _recent(90), 60)  # overwritten in about 30 min
    asked = make_gap("off", _recent(10), 60, state="failed")  # a request on an ANR-off camera
    make_gap("off", _recent(20), 60)  # automatic, ANR off: not in the queue
    manager = login_as("manager", username="mona")
    assert manager.post(f"{GAPS.format('off')}/{asked.id}/retry").status_code == 200

    body = login_as("viewer").get("/api/v1/queue").json
    queued = body["queued"]
    assert [g["gap_id"] for g in queued] == [asked.id, near.id, far.id]
    assert [g["position"] for g in queued] == [1, 2, 3]
    assert queued[0]["manual"] and queued[0]["requested_by"] == "mona"
    assert not queued[1]["manual"] and queued[1]["requested_by"] is None
    keeps = queued[1]["card_keeps_until"]
    assert keeps == (near.gap_start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["queued_total"] == 3
    assert body["not_queued"] == 1
    assert body["running"] == [] and body["recent"] == [] and body["workers"] == []


def test_queue_pages_by_cursor_with_positions_and_filters(db, login_as):
    make_camera("a", anr_enabled=True, site="North")
    make_camera("b", anr_enabled=True, site="South")
    for i in range(105):
        make_gap("a", _recent(600 - i), 30)
    make_gap("b", _recent(1000), 30)
    viewer = login_as("viewer")

    first = viewer.get("/api/v1/queue?site=North")
    assert [g["position"] for g in first.json["queued"]] == list(range(1, 101))
    assert {g["camera_id"] for g in first.json["queued"]} == {"a"}
    assert first.json["queued_total"] == 105
    link = first.headers["Link"]
    rest = viewer.get(link[1 : link.index(">")]).json["queued"]
    assert [g["position"] for g in rest] == [101, 102, 103, 104, 105]
    assert viewer.get("/api/v1/queue?camera=b").json["queued_total"] == 1
    assert viewer.get("/api/v1/queue?before=garbage").json["code"] == "invalid_cursor"


def test_queue_respects_camera_scope(db, login_as):
    make_camera("mine", anr_enabled=True)
    make_camera("theirs", anr_enabled=True)
    make_gap("mine", _recent(5), 30)
    make_gap("theirs", _recent(5), 30)
    scoped = login_as("viewer", cameras=["mine"])
    assert {g["camera_id"] for g in scoped.get("/api/v1/queue").json["queued"]} == {"mine"}
    assert scoped.get("/api/v1/queue?camera=theirs").status_code == 403


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"vendor": "axis", "anr_replay_url_template": None}, "set a replay URL template"),
        ({"vendor": "hikvision", "anr_replay_url_template": None}, "address"),
    ],
)
def test_a_camera_without_a_source_refuses_requests_at_once(db, login_as, fields, words):
    make_camera("nosrc", **fields)
    gap = make_gap("nosrc", _recent(30), 60, state="failed")
    manager = login_as("manager")
    for url, body in [
        (f"{GAPS.format('nosrc')}/{gap.id}/retry", None),
        (f"{GAPS.format('nosrc')}/retry-failed", None),
        (f"{GAPS.format('nosrc')}/retry-selected", {"gap_ids": [gap.id]}),
        (
            GAPS.format("nosrc"),
            {"gap_start": "2026-01-01T00:00:00Z", "gap_end": "2026-01-01T00:05:00Z"},
        ),
    ]:
        resp = manager.post(url, json=body)
        assert resp.status_code == 409, url
        assert resp.json["code"] == "no_replay_source"
        assert words in resp.json["error"] and "nosrc" in resp.json["error"]
    db.session.commit()
    assert db.session.get(RecordingGap, gap.id).fill_state == "failed"
    assert db.session.execute(select(AuditLog)).scalars().all() == []


def test_a_disabled_camera_refuses_requests(db, login_as):
    make_camera("down", enabled=False)
    gap = make_gap("down", _recent(30), 60, state="failed")
    resp = login_as("manager").post(f"{GAPS.format('down')}/{gap.id}/retry")
    assert resp.status_code == 409 and resp.json["code"] == "camera_disabled"


def test_retry_selected_moves_the_chosen_gaps_with_one_audit_row(db, login_as):
    make_camera("cam1")
    failed = make_gap("cam1", _recent(50), 60, state="failed", fill_attempts=3)
    partial = make_gap("cam1", _recent(40), 60, state="partial", recovered_seconds=20.0)
    expired = make_gap("cam1", _recent(30), 60, state="expired")
    filled = make_gap("cam1", _recent(20), 60, state="filled")
    untouched = make_gap("cam1", _recent(10), 60, state="failed")
    ids = [failed.id, partial.id, expired.id, filled.id]

    resp = login_as("manager", username="mona").post(
        f"{GAPS.format('cam1')}/retry-selected", json={"gap_ids": ids}
    )

    assert resp.status_code == 200
    assert resp.json["retried"] == 3 and resp.json["skipped"] == 1
    db.session.commit()
    states = {i: db.session.get(RecordingGap, i) for i in ids + [untouched.id]}
    for gid in (failed.id, partial.id, expired.id):
        gap = states[gid]
        assert (gap.fill_state, gap.fill_attempts, gap.manual_retry) == ("pending", 0, True)
        assert gap.requested_by == "mona"
    assert states[filled.id].fill_state == "filled"
    assert states[untouched.id].fill_state == "failed"
    rows = db.session.execute(select(AuditLog)).scalars().all()
    assert len(rows) == 1 and rows[0].action == "anr_retry_selected"
    assert sorted(rows[0].detail["gap_ids"]) == sorted([failed.id, partial.id, expired.id])
    counts = {
        s.fill_state: s.gap_count
        for s in db.session.execute(select(CameraGapStat).where(CameraGapStat.camera_id == "cam1"))
        .scalars()
        .all()
    }
    assert counts["pending"] == 3 and counts["failed"] == 1 and counts["filled"] == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"gap_ids": []}, {"gap_ids": "abc"}, {"gap_ids": [1, 2]}, {"gap_ids": ["x" * 65]}],
)
def test_retry_selected_bad_input_is_400(db, login_as, body):
    make_camera("cam1")
    resp = login_as("manager").post(f"{GAPS.format('cam1')}/retry-selected", json=body)
    assert resp.status_code == 400 and resp.json["code"] in ("invalid_ids", "invalid_json")


def test_retry_selected_needs_a_manager(db, login_as):
    make_camera("cam1")
    gap = make_gap("cam1", _recent(10), 60, state="failed")
    resp = login_as("viewer").post(
        f"{GAPS.format('cam1')}/retry-selected", json={"gap_ids": [gap.id]}
    )
    assert resp.status_code == 403


def test_runs_history_survives_retry(db, login_as):
    make_camera("cam1")
    gap = make_gap("cam1", _recent(30), 60, state="failed", fill_attempts=3, last_error="boom")
    started = utcnow() - timedelta(minutes=5)
    for n in range(3):
        db.session.add(
            FillRun(
                gap_id=gap.id,
                camera_id="cam1",
                worker_id="w1",
                started_at=started + timedelta(seconds=n * 10),
                ended_at=started + timedelta(seconds=n * 10 + 5),
                outcome="failed",
                recovered_seconds=0.0,
                error="rtsp://***@cam/x: connection refused",
            )
        )
    db.session.commit()
    manager = login_as("manager")
    runs_url = f"{GAPS.format('cam1')}/{gap.id}/runs"
    assert len(manager.get(runs_url).json) == 3

    assert manager.post(f"{GAPS.format('cam1')}/{gap.id}/retry").status_code == 200

    runs = login_as("viewer").get(runs_url).json
    assert len(runs) == 3 and {r["outcome"] for r in runs} == {"failed"}
    assert runs[0]["error"].startswith("rtsp://***@")
    assert set(runs[0]) >= {"method", "started_at", "ended_at", "recovered_seconds", "bytes"}
    db.session.commit()
    assert db.session.get(RecordingGap, gap.id).fill_attempts == 0
    assert manager.get(f"{GAPS.format('cam1')}/nope/runs").status_code == 404


# --- the cameras list at fleet size ------------------------------------------------------------


def bulk_fleet(count: int) -> dict:
    """``count`` cameras in one insert: every 97th has a failed gap, every 89th a partial one."""
    now = utcnow().replace(microsecond=0)
    cams, stats = [], []
    expected = {}
    for i in range(count):
        cid = f"cam{i:05d}"
        attention = 4 if i % 97 == 0 else 3 if i % 89 == 0 else 0
        cams.append(
            {
                "id": cid,
                "name": f"Camera {i:05d}",
                "site": f"Site {i % 25:02d}",
                "timezone": "UTC",
                "vendor": "generic",
                "address": "",
                "rtsp_port": 554,
                "http_port": 80,
                "username": "",
                "password_encrypted": "",
                "channel": 1,
                "anr_enabled": False,
                "segment_seconds": 60,
                "enabled": True,
                "newest_gap_start": now - timedelta(minutes=i) if i % 10 else None,
                "attention": attention,
                "last_segment_end": now,  # recording: attention comes from the gaps alone
                "created_at": now,
                "updated_at": now,
            }
        )
        if attention:
            state = "failed" if attention == 4 else "partial"
            stats.append({"camera_id": cid, "fill_state": state, "gap_count": 1, "gap_seconds": 60})
        expected[cid] = attention
    _db.session.execute(insert(Camera), cams)
    _db.session.execute(insert(CameraGapStat), stats)
    _db.session.commit()
    return expected


def _fleet_order(expected: dict) -> list[str]:
    """Attention first, then newest gap (smaller index = newer), cameras without gaps last."""

    def key(cid):
        i = int(cid[3:])
        return (-expected[cid], 0, i) if i % 10 else (-expected[cid], 1, -i)

    return sorted(expected, key=key)


def _link(resp, rel):
    for part in resp.headers.get("Link", "").split(", "):
        if f'rel="{rel}"' in part:
            return part[1 : part.index(">")]
    return None


def test_cameras_list_at_10000_cameras_pages_in_fleet_order(db, login_as):
    expected = bulk_fleet(10_000)
    order = _fleet_order(expected)
    viewer = login_as("viewer")

    first = viewer.get("/api/v1/cameras?limit=100")
    assert [c["id"] for c in first.json] == order[:100]
    # Failed before partial before the rest; within a level the newest gap first.
    assert first.json[0]["needs_attention"] and first.json[0]["counts"]["failed"] == 1
    levels = [expected[c["id"]] for c in first.json]
    assert levels == sorted(levels, reverse=True)

    second = viewer.get(_link(first, "next"))
    assert [c["id"] for c in second.json] == order[100:200]
    back = viewer.get(_link(second, "prev"))
    assert [c["id"] for c in back.json] == order[:100]
    assert _link(back, "prev") is None

    found = viewer.get("/api/v1/cameras?q=CAMERA 00424").json
    assert [c["id"] for c in found] == ["cam00424"]
    site = viewer.get("/api/v1/cameras?site=Site 03&limit=1000").json
    assert len(site) == 400 and {c["site"] for c in site} == {"Site 03"}
    attention = viewer.get("/api/v1/cameras?attention=1&limit=1000").json
    assert {c["id"] for c in attention} == {c for c, a in expected.items() if a}


def test_cameras_list_bad_input_is_400(db, login_as):
    viewer = login_as("viewer")
    assert viewer.get("/api/v1/cameras?limit=ten").json["code"] == "invalid_limit"
    assert viewer.get("/api/v1/cameras?before=xyz").json["code"] == "invalid_cursor"
    assert viewer.get("/api/v1/cameras?attention=maybe").json["code"] == "invalid_attention"
    assert viewer.get("/api/v1/cameras?q=%25_%5C").status_code == 200


# --- the same on PostgreSQL (NULL ordering and interval arithmetic differ) -------------------


@pytest.fixture
def pg_fleet_app(require_postgres, make_app):
    from tests.test_migrations_and_postgres import _reset_postgres

    _reset_postgres(require_postgres)
    app = make_app(SQLALCHEMY_DATABASE_URI=require_postgres)
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()
    _reset_postgres(require_postgres)


@pytest.mark.postgres
def test_postgres_fleet_order_cursors_and_claim_order(pg_fleet_app):
    with pg_fleet_app.app_context():
        expected = bulk_fleet(250)
        make_camera("zz-short", anr_enabled=True, anr_max_gap_hours="2")
        make_camera("zz-long", anr_enabled=True)
        far = make_gap("zz-long", _recent(30), 60).id
        near = make_gap("zz-short", _recent(90), 60).id
        asked = make_gap("zz-long", _recent(10), 60, state="failed").id
    with pg_fleet_app.app_context():
        make_user("pgmanager", "manager", None, PASSWORD)
    manager = pg_fleet_app.test_client()
    page = manager.get("/login").get_data(as_text=True)
    manager.post(
        "/login",
        data={"username": "pgmanager", "password": PASSWORD, "csrf_token": csrf_token_from(page)},
    )
    assert manager.post(f"{GAPS.format('zz-long')}/{asked}/retry").status_code == 200
    queued = [g["gap_id"] for g in manager.get("/api/v1/queue").json["queued"]]
    assert queued == [asked, near, far]

    order = [c["id"] for c in manager.get("/api/v1/cameras?limit=1000&q=camera+0").json]
    assert order == _fleet_order(expected)  # cameras without gaps last on PostgreSQL too
    first = manager.get("/api/v1/cameras?limit=60&q=camera+0")
    second = manager.get(_link(first, "next"))
    third = manager.get(_link(second, "next"))
    assert [c["id"] for c in third.json] == order[120:180]
    back = manager.get(_link(third, "prev"))
    assert [c["id"] for c in back.json] == order[60:120]
