"""The fill queue: expiry, manual requests, fill windows, limits, newest first, lost leases."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from tests import factories
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from webapp.anr import claims
from webapp.domain import gapstate
from webapp.models import utcnow


def _claim(slots=4, per_camera=1, window=""):
    claimed = claims.claim("w1", slots, per_camera=per_camera, lease_seconds=30, fill_window=window)
    gapstate.db.session.commit()
    return claimed


def test_old_pending_gaps_expire_unless_manually_requested(anr_app, anr_db, simcam):
    sim_camera(simcam)
    old = factories.make_gap("cam1", recent(minutes_ago=80 * 60), seconds=30)
    asked = factories.make_gap("cam1", recent(minutes_ago=90 * 60), seconds=30, manual_retry=True)
    fresh = factories.make_gap("cam1", recent(minutes_ago=60), seconds=30)

    expired = claims.expire_old(72.0)
    anr_db.session.commit()

    assert [g.id for g in expired] == [old.id]
    assert gap_now(old.id).fill_state == "expired"
    assert "72 h" in gap_now(old.id).last_error
    assert gap_now(asked.id).fill_state == "pending"
    assert gap_now(fresh.id).fill_state == "pending"
    # The manually requested old gap is still claimed, before automatic work.
    assert [g.id for g in _claim(per_camera=2)] == [asked.id, fresh.id]


def test_camera_retention_overrides_the_global_setting(anr_app, anr_db, simcam):
    sim_camera(simcam, anr_max_gap_hours="1")
    sim_camera(simcam, "cam2")
    short = factories.make_gap("cam1", recent(minutes_ago=120), seconds=30)
    kept = factories.make_gap("cam2", recent(minutes_ago=120), seconds=30)

    claims.expire_old(72.0)
    anr_db.session.commit()

    assert gap_now(short.id).fill_state == "expired"
    assert gap_now(kept.id).fill_state == "pending"


def test_worker_expires_and_a_retry_brings_it_back(anr_app, anr_db, simcam):
    sim_camera(simcam)
    gap = factories.make_gap("cam1", recent(minutes_ago=100 * 60), seconds=6)

    run_worker(anr_app)
    assert gap_now(gap.id).fill_state == "expired"
    assert list(simcam.requests) == []

    gapstate.retry(gap_now(gap.id))  # manual_retry lifts the age limit
    anr_db.session.commit()
    run_worker(anr_app)

    assert gap_now(gap.id).fill_state == "filled"
    assert len(simcam.requests) == 1


def test_claims_soonest_card_deadline_first_within_limits(anr_app, anr_db, simcam):
    for cam in ("a", "b", "c"):
        sim_camera(simcam, cam)
    base = recent(minutes_ago=120)
    gaps = {
        (cam, i): factories.make_gap(cam, base + timedelta(minutes=i * 10 + n), seconds=30)
        for n, cam in enumerate(("a", "b", "c"))
        for i in range(3)
    }

    # Same retention everywhere: the oldest gap is the first the card overwrites.
    first = _claim(slots=4, per_camera=1)
    assert [g.id for g in first] == [gaps[(c, 0)].id for c in ("a", "b", "c")]
    assert _claim(slots=4, per_camera=1) == []  # every camera is at its limit

    more = _claim(slots=2, per_camera=2)
    assert [g.id for g in more] == [gaps[("a", 1)].id, gaps[("b", 1)].id]
    assert {g.fill_state for g in more} == {"filling"}
    assert all(g.fill_attempts == 1 and g.claimed_by == "w1" for g in more)


def test_a_camera_gets_its_share_when_the_candidate_list_cut_its_gaps_off(anr_app, anr_db, simcam):
    """The claim reads slots x 8 candidates; a camera with fewer of them than it has room for
    is asked for its next gaps whole, so its share never depends on where the list was cut."""
    for cam in ("a", "b"):
        sim_camera(simcam, cam)
    base = recent(minutes_ago=300)
    b_first = factories.make_gap("b", base, seconds=30)
    for i in range(claims.CANDIDATES_PER_SLOT * 2 - 1):  # fill the rest of the 16 candidates
        factories.make_gap("a", base + timedelta(minutes=1 + i), seconds=30)
    b_next = factories.make_gap("b", base + timedelta(minutes=100), seconds=30)

    claimed = _claim(slots=2, per_camera=2)

    assert [g.id for g in claimed] == [b_first.id, b_next.id]


def test_automatic_gaps_of_disabled_or_non_anr_cameras_are_not_claimed(anr_app, anr_db, simcam):
    sim_camera(simcam, "off", anr_enabled=False)
    sim_camera(simcam, "down", enabled=False)
    factories.make_gap("off", recent(), seconds=30)
    factories.make_gap("down", recent(), seconds=30)

    assert _claim() == []


def test_manual_requests_run_on_cameras_with_automatic_anr_off(anr_app, anr_db, simcam):
    sim_camera(simcam, "off", anr_enabled=False)
    sim_camera(simcam, "down", enabled=False)
    asked = factories.make_gap("off", recent(), seconds=30, state="failed")
    gapstate.retry(gap_now(asked.id), "Mona")
    down = factories.make_gap("down", recent(), seconds=30, state="failed")
    gapstate.retry(gap_now(down.id), "Mona")
    anr_db.session.commit()

    # A disabled camera records nothing and serves nothing; the pages refuse such requests.
    assert [g.id for g in _claim()] == [asked.id]


def _window_excluding_now() -> str:
    now = datetime.now(UTC)
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    return f"{start:%H:%M}-{end:%H:%M}"


def test_fill_window_holds_automatic_fills_but_not_manual_ones(anr_app, anr_db, simcam):
    sim_camera(simcam)
    auto = factories.make_gap("cam1", recent(minutes_ago=10), seconds=30)
    manual = factories.make_gap("cam1", recent(minutes_ago=60), seconds=30, manual_retry=True)

    claimed = _claim(per_camera=2, window=_window_excluding_now())
    assert [g.id for g in claimed] == [manual.id]

    now = datetime.now(UTC)
    open_now = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    assert [g.id for g in _claim(per_camera=2, window=open_now)] == [auto.id]


def test_fill_window_is_read_in_camera_local_time():
    window = claims.parse_fill_window("22:00-06:00")
    noon_utc = datetime(2026, 6, 13, 12, 0, tzinfo=UTC)
    assert not claims.in_fill_window(window, "UTC", noon_utc)
    assert not claims.in_fill_window(window, "Asia/Tokyo", noon_utc)  # 21:00 JST
    assert claims.in_fill_window(window, "America/Los_Angeles", noon_utc)  # 05:00 PDT
    assert claims.in_fill_window(window, "Pacific/Auckland", noon_utc)  # 00:00 NZST
    assert claims.in_fill_window(None, "UTC", noon_utc)


def test_expired_lease_returns_the_gap_with_the_attempt_counted(anr_app, anr_db, simcam):
    sim_camera(simcam)
    gap = factories.make_gap("cam1", recent(), seconds=30)
    _claim()
    claimed = gap_now(gap.id)
    claimed.lease_until = utcnow() - timedelta(seconds=1)
    anr_db.session.commit()

    moved = claims.reclaim_lost_leases(max_attempts=3)
    anr_db.session.commit()

    gap = gap_now(gap.id)
    assert [g.id for g in moved] == [gap.id]
    assert (gap.fill_state, gap.fill_attempts, gap.claimed_by) == ("pending", 1, None)
    assert "lease expired" in gap.last_error


def test_expired_lease_at_the_attempt_limit_fails_the_gap(anr_app, anr_db, simcam):
    sim_camera(simcam)
    gap = factories.make_gap("cam1", recent(), seconds=30, fill_attempts=2)
    _claim()
    claimed = gap_now(gap.id)
    claimed.lease_until = utcnow() - timedelta(seconds=1)
    anr_db.session.commit()

    claims.reclaim_lost_leases(max_attempts=3)
    anr_db.session.commit()

    assert gap_now(gap.id).fill_state == "failed"


def test_an_operator_request_goes_before_newer_automatic_work(anr_app, anr_db, simcam):
    sim_camera(simcam)
    newer = factories.make_gap("cam1", recent(minutes_ago=10), seconds=30)
    older = factories.make_gap("cam1", recent(minutes_ago=300), seconds=30, state="failed")
    gapstate.retry(gap_now(older.id))
    anr_db.session.commit()

    assert [g.id for g in _claim(per_camera=1)] == [older.id]
    assert gap_now(newer.id).fill_state == "pending"


def test_a_cameras_own_fill_window_holds_its_automatic_fills(anr_app, anr_db, simcam):
    now = datetime.now(UTC)
    open_now = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    # Night-only camera (its window is closed now); the other follows the open fleet window.
    sim_camera(simcam, "night", fill_window=_window_excluding_now())
    sim_camera(simcam, "day")
    held = factories.make_gap("night", recent(minutes_ago=10), seconds=30)
    asked = factories.make_gap("night", recent(minutes_ago=20), seconds=30, manual_retry=True)
    day = factories.make_gap("day", recent(minutes_ago=10), seconds=30)

    assert {g.id for g in _claim(per_camera=2)} == {asked.id, day.id}  # no fleet window
    assert gap_now(held.id).fill_state == "pending"
    assert _claim(per_camera=2, window=open_now) == []  # the camera's own window wins

    camera = anr_db.session.get(claims.Camera, "night")
    camera.fill_window = open_now
    anr_db.session.commit()
    # Its own open window lets it run even while the fleet window is closed.
    assert [g.id for g in _claim(per_camera=2, window=_window_excluding_now())] == [held.id]


def test_a_worker_honours_a_cameras_fill_window_and_the_queue_still_lists_the_gap(
    anr_app, anr_db, simcam
):
    sim_camera(simcam, fill_window=_window_excluding_now())
    held = factories.make_gap("cam1", recent(minutes_ago=10), seconds=30)
    run_worker(anr_app)
    assert gap_now(held.id).fill_state == "pending"
    assert gap_now(held.id).fill_attempts == 0
    from webapp.domain import queue_overview

    view = queue_overview.queue_view(queue_overview.QueueFilter())
    assert [r["gap_id"] for r in view.queued.rows] == [held.id]
    assert view.camera_windows[0]["camera_id"] == "cam1" and not view.camera_windows[0]["open"]


def test_fill_windows_are_checked_and_written_one_way():
    from webapp.domain import fill_schedule

    assert fill_schedule.format_fill_window(fill_schedule.read_fill_window(" 2:00 - 6:30 ")) == (
        "02:00-06:30"
    )
    for bad, words in (
        ("22-06", "HH:MM-HH:MM"),
        ("25:00-06:00", "hours 00-23"),
        ("06:00-06:00", "the same time"),
        ("night", "e.g. 22:00-06:00"),
    ):
        with pytest.raises(ValueError, match=words):
            fill_schedule.read_fill_window(bad)
    assert fill_schedule.read_fill_window("") is None
