"""The domain's own rules, run outside any request: the actor is a parameter, errors are its own."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import make_camera
from tests.factories import make_gap
from webapp import errors as http
from webapp.domain import errors
from webapp.domain import gap_actions
from webapp.domain import gapstate
from webapp.domain import states
from webapp.domain.audit import SYSTEM
from webapp.models import AuditLog


class Operator:
    actor_id = "u-7"
    actor_name = "dana"
    role = "manager"


def test_a_retry_outside_a_request_keeps_who_asked(db):
    camera = make_camera("cam1")
    gap = make_gap("cam1", state="failed")
    gap_actions.retry_one(camera, gap.id, Operator())
    db.session.commit()
    assert gap.fill_state == states.GapState.PENDING and gap.requested_by == "dana"
    row = db.session.execute(select(AuditLog)).scalar_one()
    assert (row.actor, row.actor_name, row.action) == ("u-7", "dana", "anr_retry_gap")


def test_the_domain_refuses_with_its_own_errors_and_one_place_maps_them(db):
    camera = make_camera("cam1")
    filled = make_gap("cam1", state="filled")
    with pytest.raises(errors.Conflict) as refused:
        gap_actions.retry_one(camera, filled.id, SYSTEM)
    assert (
        refused.value.message
        == f"recording gap {filled.id} is already filled; there is nothing to fetch"
    )
    assert http.status_of(refused.value) == 409 and refused.value.slug == "gap_state_conflict"
    with pytest.raises(errors.NotFound) as missing:
        gap_actions.gap_of(camera, "nope")
    assert http.status_of(missing.value) == 404
    assert http.status_of(gap_actions.WindowOverlap(filled)) == 409


def test_one_retry_refusal_wording():
    assert gapstate.retry_refusal("g1", "filling") == "recording gap g1 is being filled right now"
    assert gapstate.retry_refusal("g1", "failed") is None


def test_one_worst_state_order_failed_then_partial_then_expired():
    sev = states.SEVERITY
    assert sev["failed"] > sev["partial"] > sev["expired"] > sev["filling"]
    assert states.ATTENTION == ("failed", "partial", "expired")
    assert states.GapState.PARTIAL.severity == sev["partial"]
    # The members are their strings: the database and JSON keep the same words.
    assert states.GapState("expired") is states.EXPIRED and f"{states.FAILED}" == "failed"


def test_a_merged_timeline_mark_shows_the_worst_state_of_the_same_order():
    from types import SimpleNamespace

    from webapp.pages.timeline import merge_marks

    base = datetime(2026, 6, 1, tzinfo=UTC)

    def gap(i, state):  # three short gaps a second apart: one drawing unit, one mark
        start = base + timedelta(seconds=i)
        return SimpleNamespace(
            id=f"g{i}", fill_state=state, gap_start=start, gap_end=start + timedelta(seconds=1),
            gap_seconds=1.0,
        )  # fmt: skip

    def pct(t):
        return (t - base).total_seconds() / 864.0  # one day across 100 %

    (mark,) = merge_marks([gap(0, "expired"), gap(1, "partial"), gap(2, "filled")], pct)
    assert mark.state == "partial" and mark.mixed
    (mark,) = merge_marks([gap(0, "partial"), gap(1, "failed"), gap(2, "expired")], pct)
    assert mark.state == "failed"


class Scoped:
    scope = frozenset({"cam1"})

    def in_scope(self, camera_id):
        return camera_id in self.scope


def test_one_scope_filter_and_one_out_of_scope_answer(db):
    from webapp.domain.principal import require_in_scope
    from webapp.domain.principal import scoped
    from webapp.models import Camera

    make_camera("cam1")
    make_camera("cam2")
    query = scoped(select(Camera.id).order_by(Camera.id), Camera.id, Scoped())
    assert list(db.session.execute(query).scalars()) == ["cam1"]
    with pytest.raises(errors.OutOfScope) as one:
        require_in_scope(Scoped(), ["cam2"])
    assert one.value.message == "camera 'cam2' is outside your camera scope"
    with pytest.raises(errors.OutOfScope) as several:
        require_in_scope(Scoped(), ["cam1", "cam2", "cam3"], listed=True)
    assert several.value.message == "outside your camera scope: cam2, cam3"
    assert http.status_of(several.value) == 403
