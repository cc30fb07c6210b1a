"""The gap state machine: allowed transitions and the statistics kept beside it."""

import pytest

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from webapp import gapstate
from webapp.gaps.queries import state_counts

ALL = ("pending", "filling", "filled", "partial", "failed", "expired")


@pytest.mark.parametrize("old", ALL)
@pytest.mark.parametrize("new", ALL)
def test_transition_table_is_enforced_and_counts_follow(db, old, new):
    make_camera("cam1")
    gap = make_gap("cam1", state=old, seconds=42)
    allowed = new in gapstate.TRANSITIONS[old]
    if allowed:
        assert gapstate.change_state(gap, new) == old
        db.session.commit()
        counts = state_counts(["cam1"])["cam1"]
        assert counts["counts"][new] == 1 and counts["seconds"][new] == 42
        assert sum(counts["counts"].values()) == 1
    else:
        with pytest.raises(gapstate.GapConflict):
            gapstate.change_state(gap, new)
        assert gap.fill_state == old


def test_filled_is_final(db):
    assert gapstate.TRANSITIONS["filled"] == frozenset()


def test_leaving_filling_clears_lease_and_progress(db):
    make_camera("cam1")
    gap = make_gap("cam1", state="filling", claimed_by="w1", progress=0.5, stop_requested_by="boss")
    gapstate.change_state(gap, "failed", last_error="stopped by boss")
    assert (gap.claimed_by, gap.lease_until, gap.progress, gap.stop_requested_by) == (
        None,
        None,
        None,
        None,
    )


def test_recount_matches_maintained_counters(db):
    make_camera("cam1")
    for i, state in enumerate(ALL):
        make_gap("cam1", BASE_TIME.replace(hour=i), seconds=10 + i, state=state)
    live = state_counts(["cam1"])
    gapstate.recount_stats()
    db.session.commit()
    assert state_counts(["cam1"]) == live
