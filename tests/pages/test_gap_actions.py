"""Gap page actions of fleet operations: refusals named inline, Retry selected, history,
acted-on rows kept until the next refresh, faster refresh while a request waits."""

import re
from datetime import timedelta

from sqlalchemy import select

from tests.factories import make_camera
from tests.factories import make_gap
from webapp.models import AuditLog
from webapp.models import FillRun
from webapp.models import RecordingGap
from webapp.models import utcnow

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/cameras/cam1/gaps"}


def _recent(minutes: float):
    return (utcnow() - timedelta(minutes=minutes)).replace(microsecond=0)


def test_retry_on_a_camera_without_a_source_names_what_to_configure(db, login_as):
    make_camera("axis1", name="Axis door", vendor="axis", anr_replay_url_template=None)
    gap = make_gap("axis1", _recent(30), 60, state="failed")
    manager = login_as("manager")

    resp = manager.post(f"/cameras/axis1/gaps/{gap.id}/retry", headers=HX)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert "Not retried" in html and "set a replay URL template" in html
    assert "<html" not in html

    page = manager.get("/cameras/axis1/gaps").get_data(as_text=True)
    assert "set a replay URL template" in page  # said before anyone presses a button

    resp = manager.post("/cameras/axis1/gaps/retry-failed", headers=HX)
    assert resp.status_code == 409 and resp.headers["HX-Retarget"] == "#messages"
    assert "set a replay URL template" in resp.get_data(as_text=True)


def test_retry_selected_from_the_page_keeps_the_rows_and_confirms(db, login_as):
    make_camera("cam1")
    gaps = [make_gap("cam1", _recent(60 - i), 60, state="failed") for i in range(3)]
    other = make_gap("cam1", _recent(5), 60, state="failed")
    manager = login_as("manager")

    resp = manager.post(
        "/cameras/cam1/gaps/retry-selected?state=failed",
        data={"gap_ids": [g.id for g in gaps]},
        headers={**HX, "HX-Target": "gap-view"},
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in html
    assert "3 gaps sent back to the fill queue." in html
    # The Failed tab still shows the three rows (now pending) until the next refresh.
    for g in gaps:
        row = re.search(rf'<tr id="gap-{g.id}".*?</tr>', html, re.S).group(0)
        assert "Pending" in row
    assert f'id="gap-{other.id}"' in html
    db.session.commit()
    states = [db.session.get(RecordingGap, g.id).fill_state for g in gaps]
    assert states == ["pending"] * 3
    audit = db.session.execute(select(AuditLog)).scalars().all()
    assert [a.action for a in audit] == ["anr_retry_selected"]
    # A request waits: the page refreshes fast so the operator sees it start.
    assert 'data-refresh-seconds="2"' in html

    refreshed = manager.get(
        "/cameras/cam1/gaps?state=failed", headers={**HX, "HX-Target": "gap-view"}
    )
    assert all(f'id="gap-{g.id}"' not in refreshed.get_data(as_text=True) for g in gaps)


def test_retry_selected_with_nothing_ticked_says_so(db, login_as):
    make_camera("cam1")
    resp = login_as("manager").post("/cameras/cam1/gaps/retry-selected", headers=HX)
    assert resp.status_code == 400
    assert "Tick the gaps to retry first" in resp.get_data(as_text=True)


def test_history_opens_under_the_row_and_survives_retry(db, login_as):
    make_camera("cam1", timezone="Europe/Berlin")
    gap = make_gap("cam1", _recent(60), 60, state="failed", fill_attempts=2)
    started = utcnow() - timedelta(minutes=10)
    for n, outcome in enumerate(("failed", "partial")):
        db.session.add(
            FillRun(
                gap_id=gap.id,
                camera_id="cam1",
                worker_id="w1",
                started_at=started + timedelta(minutes=n),
                ended_at=started + timedelta(minutes=n, seconds=30),
                duration_s=30.0,
                outcome=outcome,
                recovered_seconds=12.0 if outcome == "partial" else 0.0,
                bytes_written=2_400_000 if outcome == "partial" else 0,
                error="rtsp://***@cam/x: 404" if outcome == "failed" else None,
                requested_by="mona" if outcome == "partial" else None,
            )
        )
    db.session.commit()
    manager = login_as("manager")
    assert manager.post(f"/cameras/cam1/gaps/{gap.id}/retry", headers=HX).status_code == 200

    detail = manager.get(
        f"/cameras/cam1/gaps/{gap.id}/history", headers={**HX, "HX-Target": f"gap-{gap.id}"}
    ).get_data(as_text=True)
    assert detail.lstrip().startswith(f'<tr id="detail-{gap.id}" class="detail-row"')
    assert "Partial" in detail
    assert "Failed" in detail
    assert re.search(r"12\ss\b", detail)  # 12 s (a no-break space between)
    assert "2.4 MB" in detail
    assert "mona" in detail
    assert "automatic" in detail
    assert "rtsp://***@cam/x: 404" in detail
    page = manager.get(f"/cameras/cam1/gaps/{gap.id}/history").get_data(as_text=True)
    assert "<html" in page and "Fill history" in page

    # A refresh that had the history open renders it again.
    refreshed = manager.get(
        f"/cameras/cam1/gaps?open={gap.id}", headers={**HX, "HX-Target": "gap-view"}
    ).get_data(as_text=True)
    assert f'id="detail-{gap.id}"' in refreshed
