"""The gap state machine: allowed transitions and the statistics kept beside it."""

import pytest

from tests.factories import BASE_TIME
from tests.factories import make_camera
from tests.factories import make_gap
from webapp.domain import gapstate
from webapp.domain import states
from webapp.domain.gap_queries import state_counts

ALL = ("pending", "filling", "filled", "partial", "failed", "expired")


@pytest.mark.parametrize("by", (states.OPERATOR, states.ENGINE))
@pytest.mark.parametrize("old", ALL)
@pytest.mark.parametrize("new", ALL)
def test_transition_table_is_enforced_and_counts_follow(db, old, new, by):
    make_camera("cam1")
    gap = make_gap("cam1", state=old, seconds=42)
    allowed = by in states.TRANSITIONS[old].get(new, ())
    if allowed:
        assert gapstate.change_state(gap, new, by) == old
        db.session.commit()
        counts = state_counts(["cam1"])["cam1"]
        assert counts["counts"][new] == 1 and counts["seconds"][new] == 42
        assert sum(counts["counts"].values()) == 1
    else:
        with pytest.raises(gapstate.GapConflict):
            gapstate.change_state(gap, new, by)
        assert gap.fill_state == old


def test_filled_is_final(db):
    assert states.TRANSITIONS["filled"] == {}


def test_only_an_operator_sends_a_gap_back_to_the_queue_from_an_attention_state(db):
    assert states.RETRYABLE == ("pending", "partial", "failed", "expired")
    assert all(not states.may_move(s, "pending", states.ENGINE) for s in states.ATTENTION)
    # The engine requeues a fill it lost or gave back; an operator cannot interrupt one that way.
    assert states.may_move("filling", "pending", states.ENGINE)
    assert not states.may_move("filling", "pending", states.OPERATOR)


@pytest.mark.parametrize(
    ("state", "words"), (("filled", "already filled"), ("filling", "being filled right now"))
)
def test_retry_refusal_comes_from_the_table(db, state, words):
    make_camera("cam1")
    gap = make_gap("cam1", state=state)
    with pytest.raises(gapstate.GapConflict, match=words):
        gapstate.retry(gap)


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
