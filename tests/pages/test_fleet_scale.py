"""The fleet page at 10,000 cameras: 100 a page, attention first, search, site, cursors."""

import re

from tests.api.test_fleet_ops import _fleet_order
from tests.api.test_fleet_ops import bulk_fleet

HX = {"HX-Request": "true", "HX-Target": "fleet"}


def _ids(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/cameras/(cam\d+)/gaps">', html)


def _link(html: str, words: str) -> str:
    match = re.search(rf'<a class="button" href="([^"]+)"[^>]*>[^<]*{words}', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_fleet_page_of_10000_cameras(db, login_as):
    expected = bulk_fleet(10_000)
    order = _fleet_order(expected)
    viewer = login_as("viewer")

    first = viewer.get("/cameras").get_data(as_text=True)
    assert _ids(first) == order[:100]
    assert "10000</b> cameras" in first
    needing = sum(1 for a in expected.values() if a)
    assert f"{needing}</b> need attention" in first
    assert "needs attention" in first.split("<tbody>")[1].split("</tr>")[0]  # first row
    assert _link(first, "Previous") is None

    second = viewer.get(_link(first, "Next"), headers=HX).get_data(as_text=True)
    assert "<html" not in second and _ids(second) == order[100:200]
    back = viewer.get(_link(second, "Previous"), headers=HX).get_data(as_text=True)
    assert _ids(back) == order[:100]

    found = viewer.get("/cameras?q=camera+00424").get_data(as_text=True)
    assert _ids(found) == ["cam00424"] and 'value="camera 00424"' in found
    site = viewer.get("/cameras?site=Site+07&attention=1").get_data(as_text=True)
    ids = _ids(site)
    assert ids and all(int(c[3:]) % 25 == 7 and expected[c] for c in ids)
    assert '<option value="Site 07" selected>' in site
    # The refresh keeps the search, the site and the page.
    assert 'hx-get="/cameras?site=Site+07&amp;attention=1"' in site
    missing = viewer.get("/cameras?q=nothing-like-this").get_data(as_text=True)
    assert "No camera matches “nothing-like-this”." in missing


def test_fleet_page_bad_input_is_400(db, login_as):
    viewer = login_as("viewer")
    assert viewer.get("/cameras?before=not-a-cursor").status_code == 400
    assert viewer.get("/cameras?attention=perhaps").status_code == 400


def test_the_fleet_counts_kept_by_triggers_follow_every_kind_of_write(db, app, login_as):
    """fleet_site_stats against a recount after inserts, gap trouble, footage, edits, deletes."""
    from datetime import timedelta

    from sqlalchemy import delete
    from sqlalchemy import select
    from sqlalchemy import update

    from tests.factories import make_camera
    from tests.factories import make_footage
    from tests.factories import make_gap
    from webapp.domain import gapstate
    from webapp.models import Camera
    from webapp.models import FleetSiteStat
    from webapp.models import utcnow

    def kept():
        rows = db.session.execute(select(FleetSiteStat)).scalars()
        return {r.site: (r.cameras, r.flagged, r.never, r.never_flagged) for r in rows if r.cameras}

    def recounted():
        out: dict[str, list[int]] = {}
        for c in db.session.execute(select(Camera)).scalars():
            never = c.enabled and c.last_segment_end is None
            cell = out.setdefault(c.site, [0, 0, 0, 0])
            for i, on in enumerate((True, c.attention >= 1, never, never and c.attention >= 1)):
                cell[i] += int(on)
        return {site: tuple(v) for site, v in out.items()}

    for i in range(6):
        make_camera(f"c{i}", site=f"S{i % 2}")
    assert kept() == recounted() == {"S0": (3, 0, 3, 0), "S1": (3, 0, 3, 0)}
    make_gap("c0", state="failed")
    make_gap("c1", state="partial")
    gapstate.recount_stats()
    db.session.commit()
    make_footage("c2")
    make_footage("c1", end=utcnow() - timedelta(days=2))
    db.session.execute(update(Camera).where(Camera.id == "c3").values(site="S2"))
    db.session.execute(update(Camera).where(Camera.id == "c4").values(enabled=False))
    db.session.execute(update(Camera).where(Camera.id == "c5").values(name="renamed"))
    db.session.commit()
    assert kept() == recounted()
    db.session.execute(delete(Camera).where(Camera.id.in_(["c0", "c2"])))
    db.session.commit()
    assert kept() == recounted()

    app.config["ANR_STALE_MINUTES"] = 10
    page = login_as("viewer").get("/cameras").get_data(as_text=True)
    # c1 (stale footage, partial gap), c3 and c5 (never recorded) need attention; c4 is off.
    assert "4</b> cameras" in page and "3</b> need attention" in page
    assert "3</b> not recording" in page
    same = login_as("viewer").get("/cameras?q=c").get_data(as_text=True)  # counted, not kept
    assert "4</b> cameras" in same and "3</b> need attention" in same


def test_create_all_counts_the_cameras_already_there(db):
    """A database made by create_all before the table existed gets its counts at once."""
    from sqlalchemy import select

    from tests.factories import make_camera
    from webapp.models import FleetSiteStat

    make_camera("c1", site="S")
    make_camera("c2", site="S", enabled=False)
    FleetSiteStat.__table__.drop(db.engine)
    db.create_all()
    row = db.session.execute(select(FleetSiteStat)).scalar_one()
    assert (row.site, row.cameras, row.flagged, row.never, row.never_flagged) == ("S", 2, 0, 1, 0)
