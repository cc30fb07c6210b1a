"""The coverage timeline: merged runs, gap marks, axis in the camera's zone, and the SVG."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.factories import make_camera
from tests.factories import make_gap
from webapp.domain import segments
from webapp.models import Segment
from webapp.models import utcnow
from webapp.pages import timeline

NOW = utcnow().replace(second=0, microsecond=0)


@pytest.fixture
def cam(db):
    return make_camera("cam1", timezone="Europe/Berlin")


def add_segments(db, start, count, seconds=60, skip=()):
    """``count`` back-to-back segments from ``start``, leaving out the indexes in ``skip``."""
    rows = []
    for i in range(count):
        if i in skip:
            continue
        t = start + timedelta(seconds=i * seconds)
        rows.append(
            Segment(
                camera_id="cam1",
                path=f"{i:06d}.mp4",
                start_time=t,
                end_time=t + timedelta(seconds=seconds),
                duration_s=seconds,
            )
        )
    segments.add_segments(rows)
    db.session.commit()


def test_unknown_range_falls_back_to_24h():
    assert timeline.parse_range("7d") == "7d"
    assert timeline.parse_range("1y") == "24h" and timeline.parse_range(None) == "24h"


def test_a_week_of_segments_is_one_run(cam, db):
    start = NOW - timedelta(days=7)
    add_segments(db, start, 7 * 24 * 60)
    runs = timeline.recorded_runs("cam1", start, NOW)
    assert runs == [(start, NOW)]


def test_a_hole_splits_runs_and_sub_unit_holes_are_merged(cam, db):
    start = NOW - timedelta(hours=24)
    add_segments(db, start, 24 * 60, skip=set(range(600, 615)))  # a 15-minute hole
    runs = timeline.recorded_runs("cam1", start, NOW)
    assert len(runs) == 2
    assert runs[0][1] == start + timedelta(minutes=600)
    assert runs[1][0] == start + timedelta(minutes=615)
    # Over 7 days one unit is ~5 min: a 1-minute hole is invisible and merged.
    db.session.execute(db.delete(Segment))
    add_segments(db, start, 24 * 60, skip={100})
    week = timeline.recorded_runs("cam1", NOW - timedelta(days=7), NOW)
    assert len(week) == 1


def test_gap_geometry_states_and_summary(cam, db):
    start = NOW - timedelta(hours=24)
    add_segments(db, start, 24 * 60, skip=set(range(720, 750)))
    gap = make_gap("cam1", start + timedelta(hours=12), 1800, "failed")
    make_gap("cam1", start + timedelta(hours=20), 600, "filled")
    tl = timeline.build(cam, "24h", now=NOW)
    assert [m.state for m in tl.marks] == ["failed", "filled"]
    mark = tl.marks[0]
    assert mark.gap_id == gap.id
    assert mark.x == pytest.approx(50.0) and mark.w == pytest.approx(100 * 1800 / 86400, abs=0.01)
    assert tl.gap_counts == {"failed": 1, "filled": 1}
    assert tl.missing_seconds == 1800  # filled gaps are not missing
    assert tl.coverage_percent == pytest.approx(100 * (86400 - 1800) / 86400, abs=0.01)


def test_tiny_gaps_side_by_side_merge_into_one_mark_showing_the_worst_state(cam, db):
    start = NOW - timedelta(days=7)
    make_gap("cam1", start + timedelta(days=3), 5, "filled")
    make_gap("cam1", start + timedelta(days=3, seconds=30), 5, "failed")
    make_gap("cam1", start + timedelta(days=3, seconds=60), 5, "pending")
    tl = timeline.build(cam, "7d", now=NOW)
    assert len(tl.marks) == 1
    assert tl.marks[0].state == "failed" and len(tl.marks[0].gap_ids) == 3
    assert tl.marks[0].w >= timeline.MIN_MARK_PERCENT
    assert tl.marks[0].gap_id is None and tl.marks[0].mixed


def test_ticks_fall_on_round_local_times(cam, db):
    tl = timeline.build(cam, "6h", now=NOW)
    labels = [label for _, label, _, minor in tl.ticks if not minor]
    assert labels and all(re.fullmatch(r"\d\d:00", label) for label in labels)
    # Counted from midnight in camera time: every third hour, whatever hour the window starts.
    day = [label for _, label, _, minor in timeline.build(cam, "24h", now=NOW).ticks if not minor]
    assert day and all(int(label[:2]) % 3 == 0 for label in day), day
    week = timeline.build(cam, "7d", now=NOW)
    minors = [label for _, label, _, minor in week.ticks if minor]
    # Noon between the days; a midnight with no room in the narrow layout keeps its day's name.
    assert minors and all(m == "12:00" or re.fullmatch(r"[A-Z][a-z]{2} \d\d", m) for m in minors)
    named = [label for _, label, _, _ in week.ticks if label != "12:00"]
    assert len(named) >= 6, named  # every whole day of the week is named where there is room
    majors = [label for _, label, _, minor in week.ticks if not minor]
    assert majors and all(re.fullmatch(r"[A-Z][a-z]{2} \d\d", label) for label in majors)


def _boxes(tl, width_px: float, with_minor: bool) -> list[tuple[float, float]]:
    """Pixel extents of every label drawn at ``width_px`` (the edge labels included)."""
    char = timeline.LABEL_CHAR_PX
    boxes = [(0.0, len(tl.start_label) * char), (width_px - 3 * char, width_px)]
    for x, label, _, minor in tl.ticks:
        if minor and not with_minor:
            continue
        centre = x / 100 * width_px
        boxes.append((centre - len(label) * char / 2, centre + len(label) * char / 2))
    return sorted(boxes)


@pytest.mark.parametrize("range_key", list(timeline.RANGES))
@pytest.mark.parametrize("minutes", [0, 7, 29, 51])
def test_axis_labels_never_overlap_at_600_or_1440_px(cam, db, range_key, minutes):
    """The "15:5118:00" bug: a tick label ran into the start label at the left edge."""
    tl = timeline.build(cam, range_key, now=NOW.replace(minute=minutes))
    for width, with_minor in ((timeline.NARROW_PX, False), (1350, True)):
        boxes = _boxes(tl, width, with_minor)
        for (_, right), (left, _) in zip(boxes, boxes[1:], strict=False):
            assert left - right >= 4, (range_key, width, tl.start_label, tl.ticks)
    assert [t for t in tl.ticks if not t[3]], "no major tick at all"


def test_unrecorded_stretches_count_as_missing(cam, db, login_as):
    """Hours with neither footage nor a gap are missing footage too, labelled unrecorded."""
    start = NOW - timedelta(hours=24)
    add_segments(db, start, 12 * 60)  # the first 12 hours only
    make_gap("cam1", start + timedelta(hours=12), 3600, "failed")
    tl = timeline.build(cam, "24h", now=NOW)
    assert tl.missing_seconds == 3600
    assert tl.unrecorded_seconds == 11 * 3600
    html = login_as("viewer").get("/cameras/cam1/gaps").get_data(as_text=True)
    summary = re.search(r'<p class="tl-summary".*?</p>', html, re.S).group(0)
    # The page reads the clock again, so minutes may have passed since NOW.
    assert re.search(r"12\u00a0h(\u00a0\d+\u00a0min)? missing", summary), summary
    assert re.search(r"of which 11\u00a0h(\u00a0\d+\u00a0min)? unrecorded", summary), summary
    assert "Stale." in html  # the newest footage ended 12 h ago


def test_new_camera_never_reads_as_healthy(cam, db, login_as):
    html = login_as("viewer").get("/cameras/cam1/gaps").get_data(as_text=True)
    assert "No recording gaps in this window" not in html
    assert "Never recorded." in html
    assert "No footage and no recording gaps in this window." in html
    assert "1\u00a0d missing, of which 1\u00a0d unrecorded" in html


def test_page_svg_is_bounded_patterned_and_titled(cam, db, login_as):
    # The page's 7-day window ends at the request's now: take it here, not at collection time
    # (a long suite run would otherwise shift the window and the recorded percentage).
    start = utcnow().replace(second=0, microsecond=0) - timedelta(days=7)
    add_segments(db, start, 7 * 24 * 60, skip=set(range(5000, 5030)))
    make_gap("cam1", start + timedelta(minutes=5000), 1800, "failed")
    html = login_as("viewer").get("/cameras/cam1/gaps?range=7d").get_data(as_text=True)
    svg = re.search(r'<svg class="tl".*?</svg>', html, re.S).group(0)
    # 10,080 segments draw as two runs, not 10,080 rectangles.
    assert svg.count('class="tl-rec"') == 2
    for state in ("pending", "filling", "filled", "partial", "failed", "expired", "nodata"):
        assert f'<pattern id="pat-{state}"' in svg
    # A mark is drawn with its state's pattern through its class (app.css), not per-mark fills;
    # the browser test checks the pattern it paints.
    marks = re.findall(r'<a class="tl-gap .*?</a>', svg, re.S)
    assert 'class="tl-gap state-failed"' in svg and not any("fill=" in m for m in marks)
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()
    for state in ("pending", "filling", "filled", "partial", "failed", "expired"):
        assert f".tl-gap.state-{state} .tl-mark {{ fill: url(#pat-{state}); stroke:" in css
    title = re.search(r'<a class="tl-gap state-failed".*?<title>(.*?)</title>', svg, re.S).group(1)
    assert title.startswith("Failed gap: ") and ("+01:00" in title or "+02:00" in title)
    assert "30\u00a0min" in title
    # A group of named links, never links inside an image.
    assert 'role="group"' in svg and 'role="img"' not in svg and "style=" not in svg
    assert re.search(r"\d+\.\d&nbsp;% recorded\.", html)


def test_gap_mark_links_to_a_page_where_its_row_comes_first(cam, db, login_as):
    gaps = [make_gap("cam1", NOW - timedelta(days=2, hours=i), 60, "pending") for i in range(80)]
    target = gaps[70]  # far beyond the first 50 rows
    viewer = login_as("viewer")
    html = viewer.get("/cameras/cam1/gaps?range=7d").get_data(as_text=True)
    assert f'id="gap-{target.id}"' not in html
    href = re.search(rf'href="([^"]+#gap-{target.id})"', html).group(1).replace("&amp;", "&")
    assert "state=pending" in href and "range=7d" in href
    page = viewer.get(href.split("#")[0]).get_data(as_text=True)
    first_row = re.search(r'<tr id="gap-([0-9a-f-]{36})"', page).group(1)
    assert first_row == target.id


def test_timeline_range_fragment_is_the_gap_view(cam, db, login_as):
    resp = login_as("viewer").get(
        "/cameras/cam1/gaps?range=1h", headers={"HX-Request": "true", "HX-Target": "gap-view"}
    )
    html = resp.get_data(as_text=True)
    assert "<html" not in html and "Coverage, last 1 h" in html
    assert re.search(r'id="range-1h"[^>]*aria-current="page"', html)


def test_a_gap_that_just_began_is_visible_at_the_right_edge(cam, db):
    make_gap("cam1", NOW - timedelta(seconds=5), 5, "pending")
    mark = timeline.build(cam, "7d", now=NOW).marks[0]
    assert mark.w >= timeline.MIN_MARK_PERCENT and mark.x + mark.w <= 100.0


def test_the_table_follows_the_chosen_range(cam, db, login_as):
    recent_gap = make_gap("cam1", NOW - timedelta(minutes=30), 60, "failed")
    older_gap = make_gap("cam1", NOW - timedelta(hours=5), 60, "failed")
    week_old = make_gap("cam1", NOW - timedelta(days=3), 60, "pending")
    viewer = login_as("viewer")

    def shown(url):
        return re.findall(r'<tr id="gap-([^"]+)"', viewer.get(url).get_data(as_text=True))

    assert shown("/cameras/cam1/gaps?range=1h") == [recent_gap.id]
    assert shown("/cameras/cam1/gaps?range=6h") == [recent_gap.id, older_gap.id]
    assert shown("/cameras/cam1/gaps?range=7d") == [recent_gap.id, older_gap.id, week_old.id]
    html = viewer.get("/cameras/cam1/gaps?range=1h").get_data(as_text=True)
    assert re.search(r'id="tab-failed"[^>]*>.*?<span class="count">1</span>', html, re.S)
    assert "Gaps in the last 1 h" in html and ">Show all gaps</a>" in html
    # The tabs keep the range; the unranged page lists every gap.
    assert 'href="/cameras/cam1/gaps?state=failed&amp;range=1h"' in html
    assert len(shown("/cameras/cam1/gaps")) == 3


def test_summary_counts_every_gap_not_only_the_drawn_ones(cam, db, monkeypatch):
    """Past MAX_GAPS drawn rows the counts, missing and unrecorded time still cover the range."""
    monkeypatch.setattr(timeline, "MAX_GAPS", 3)
    start = NOW - timedelta(hours=24)
    add_segments(db, start, 60)  # the first hour recorded, then only gaps
    gaps = [start + timedelta(hours=2 + i) for i in range(5)]
    for i, at in enumerate(gaps):
        make_gap("cam1", at, 600, "failed" if i % 2 else "pending")
    make_gap("cam1", start - timedelta(seconds=300), 600, "failed")  # half inside the window
    tl = timeline.build(cam, "24h", now=NOW)
    assert tl.truncated and len(tl.marks) == 3
    assert tl.gap_counts == {"pending": 3, "failed": 3}
    assert tl.missing_seconds == 5 * 600 + 300
    assert tl.unrecorded_seconds == 23 * 3600 - 5 * 600


@pytest.mark.parametrize("hour", range(0, 24, 3))
def test_every_day_of_the_week_is_named_whatever_the_hour(cam, db, hour):
    """Seen failing in the morning: the first and last midnights sat under the edge labels."""
    now = NOW.replace(hour=hour, minute=25)
    week = timeline.build(cam, "7d", now=now)
    days = {label for _, label, _, _ in week.ticks if re.fullmatch(r"[A-Z][a-z]{2} \d\d", label)}
    assert len(days) >= 6, sorted(days)


FAILED_MARK = {"class": "tl-gap state-failed"}


def _local(when):
    from webapp.domain.times import zone

    return when.astimezone(zone("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M")


def test_end_pans_the_timeline_back_to_last_weeks_gap(cam, db, login_as):
    from tests.page import page

    old = make_gap("cam1", NOW - timedelta(days=9), 600, "failed")
    viewer = login_as("viewer")
    now_view = page(viewer.get("/cameras/cam1/gaps?range=7d").get_data(as_text=True))
    assert not now_view.find_all("a", **FAILED_MARK)
    assert now_view.find_all(id="tl-later") == []
    earlier = now_view.find("a", id="tl-earlier")
    assert earlier.text == "← Earlier 7 d"
    href = earlier.attrs["href"]
    assert f"range=7d&end={_local(NOW - timedelta(days=7))[:10]}T" in href  # a week back
    back = page(viewer.get(href).get_data(as_text=True))
    assert back.find("h2", id="tl-heading").text.startswith("Coverage, 7 d to ")
    marks = back.find_all("a", **FAILED_MARK)
    assert len(marks) == 1 and old.id in marks[0].attrs["data-gap-ids"]
    # The range links keep the end; Later goes forward, Back to now drops it.
    assert "end=" in back.find("a", id="range-24h").attrs["href"]
    assert "end=" not in back.find("a", id="tl-now").attrs["href"]
    assert back.find("a", id="tl-later").text == "Later 7 d →"
    manager = page(login_as("manager").get(href).get_data(as_text=True))
    assert manager.find("button", id="retry-all").text == (
        "Retry 1 failed, partial or expired (all time, not only the 7 d shown)"
    )
    # The refresh keeps the shown range and its end.
    assert "range=7d&end=" in back.find("div", id="gap-view").attrs["hx-get"]
    # The table still lists every gap: the old one's row is there.
    assert back.find_all("tr", id=f"gap-{old.id}")


def test_end_from_the_date_picker_in_camera_time(cam, db, login_as):
    from tests.page import page

    old = make_gap("cam1", NOW - timedelta(days=20), 600, "failed")
    end = _local(NOW - timedelta(days=20) + timedelta(hours=2))
    html = login_as("viewer").get(f"/cameras/cam1/gaps?range=24h&end={end}").get_data(as_text=True)
    doc = page(html)
    assert doc.find("input", id="tl-end-input").attrs["value"] == end
    assert old.id in doc.find("a", **FAILED_MARK).attrs["data-gap-ids"]


def test_bad_end_is_a_400_saying_what_to_type_and_a_future_end_is_now(cam, db, login_as):
    viewer = login_as("viewer")
    resp = viewer.get("/cameras/cam1/gaps?end=last-tuesday")
    assert resp.status_code == 400
    assert "is not a date and time: use YYYY-MM-DDTHH:MM" in resp.get_data(as_text=True)
    future = _local(NOW + timedelta(days=3))
    resp = viewer.get(f"/cameras/cam1/gaps?range=24h&end={future}")
    assert resp.status_code == 200
    from tests.page import page

    doc = page(resp.get_data(as_text=True))
    assert doc.find("h2", id="tl-heading").text == "Coverage, last 24 h"
    assert doc.find_all(id="tl-later") == []
