"""Download fills stream into the cut (issue #22): no intermediate file, the cut's own length
instead of a probe, and one card answer for a camera's gaps of one outage."""

import subprocess
import threading
from datetime import timedelta

from sqlalchemy import select

from tests import factories
from tests.anr.conftest import archive_path
from tests.anr.conftest import background_worker
from tests.anr.conftest import gap_now
from tests.anr.conftest import playable_seconds
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import wait_for
from tests.anr.test_download import minute_edge
from tests.anr.test_download import vendor_camera
from webapp.anr.edge import CardCache
from webapp.anr.media import ffmpeg_bin
from webapp.anr.media import moov_first
from webapp.anr.media import probe_duration
from webapp.anr.media import sniff_head
from webapp.anr.vendors.base import CardCoverage
from webapp.anr.vendors.base import VendorClient
from webapp.devtools import simvendor
from webapp.domain.evidence import sha256_file
from webapp.models import Segment


def test_a_download_fill_streams_into_the_cut_and_measures_it_itself(
    anr_app, anr_db, cardcam, monkeypatch
):
    def no_file(*_a, **_kw):
        raise AssertionError("a streamed download writes no file of its own")

    monkeypatch.setattr(VendorClient, "stream_to", no_file)
    vendor_camera(cardcam, "hikvision", fill_method="download")
    start = minute_edge(20) - timedelta(seconds=20)  # across two card files, cut in
    gap = factories.make_gap("cam1", start, seconds=40)

    worker = run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    path = archive_path(anr_app, "cam1", start)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    played = playable_seconds(path)
    assert played is not None and 39 <= played <= 41.5
    segment = anr_db.session.execute(select(Segment)).scalar_one()
    # The cut's own length and hash, as a probe and a hash of the file would say.
    assert abs(segment.duration_s - probe_duration(path)) < 0.05
    assert segment.sha256 == sha256_file(path)
    phases = worker.phase_totals.seconds
    assert {"search", "download", "cut", "hash", "database"} <= set(phases)
    assert "probe" not in phases and phases.get("index", 0) < 0.05  # nothing probed
    assert worker.fills_timed == 1


def test_an_mp4_with_its_index_last_is_downloaded_to_disk_first(
    anr_app, anr_db, cardcam, monkeypatch
):
    rendered = simvendor.render_footage

    def index_last(start, seconds, out, ffmpeg=""):
        rendered(start, seconds, out, ffmpeg)
        moved = out.with_name("tail-" + out.name)
        subprocess.run(
            [ffmpeg_bin(ffmpeg), "-nostdin", "-loglevel", "error", "-i", str(out), "-c", "copy",
             "-f", "mp4", "-y", str(moved)],
            check=True, timeout=60,
        )  # fmt: skip
        moved.replace(out)

    monkeypatch.setattr(simvendor, "render_footage", index_last)
    vendor_camera(cardcam, "hikvision", fill_method="download")
    start = minute_edge(20) - timedelta(seconds=20)
    gap = factories.make_gap("cam1", start, seconds=40)
    # Rendered now, not while the worker waits: a busy machine must not turn it into a timeout.
    cardcam.vendor.prerender(start, start + timedelta(seconds=40))

    worker = run_worker(anr_app)

    gap = gap_now(gap.id)
    assert gap.fill_state == "filled", gap.last_error
    path = archive_path(anr_app, "cam1", start)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .dl left
    played = playable_seconds(path)
    assert played is not None and 39 <= played <= 41.5
    assert "probe" in worker.phase_totals.seconds  # the old path: downloads checked on disk


def test_one_card_answer_serves_a_cameras_gaps_of_one_outage(anr_app, anr_db, cardcam):
    anr_app.config["ANR_PER_CAMERA"] = 1  # one gap of the camera at a time
    vendor_camera(cardcam, "hikvision", fill_method="download")
    first = minute_edge(30)
    gaps = [
        factories.make_gap("cam1", first, seconds=20),
        factories.make_gap("cam1", first + timedelta(minutes=2), seconds=20),
    ]
    with background_worker(anr_app):

        def both_filled():
            return all(gap_now(g.id).fill_state == "filled" for g in gaps)

        wait_for(both_filled, timeout=60)
    searches = [c for c in cardcam.vendor.calls if c[0] == "isapi-search"]
    # The first fill asks about the whole outage (its window, then the card's oldest); the
    # second gap is served from that answer.
    assert len(searches) == 2, searches


def test_the_card_cache_is_keyed_by_camera_and_window_bounded_and_short_lived():
    start = recent(60)
    end = start + timedelta(minutes=30)
    cache = CardCache(ttl_s=60, size=2)
    cache.put("cam1", start, end, CardCoverage([], None, True))
    hit = cache.get("cam1", start + timedelta(minutes=5), start + timedelta(minutes=10))
    assert hit is not None and hit.asked_oldest is False  # says nothing new of the oldest
    assert cache.get("cam2", start, end) is None
    assert cache.get("cam1", start, end + timedelta(seconds=1)) is None  # not held whole
    cache.put("cam2", start, end, CardCoverage())
    cache.put("cam3", start, end, CardCoverage())
    assert cache.get("cam1", start, end) is None  # the oldest went first
    stale = CardCache(ttl_s=-1.0)
    stale.put("cam1", start, end, CardCoverage())
    assert stale.get("cam1", start, end) is None


def test_the_head_of_a_download_says_whether_a_pipe_can_carry_it():
    ftyp = (24).to_bytes(4, "big") + b"ftypisom" + b"\0" * 12
    moov = (16).to_bytes(4, "big") + b"moov" + b"\0" * 8
    mdat = (16).to_bytes(4, "big") + b"mdat" + b"\0" * 8
    assert sniff_head(ftyp + moov) == "mp4" and moov_first(ftyp + moov)
    assert not moov_first(ftyp + mdat + moov)  # index last: to disk first
    assert not moov_first(ftyp)  # cannot tell: to disk first
    assert sniff_head(b"#EXTM3U\n") is None and sniff_head(b"") is None


def test_download_slots_bound_the_downloads_not_the_cuts(anr_app, anr_db, cardcam, monkeypatch):
    """ANR_DOWNLOAD_CONCURRENCY downloads at once; a slot is free again once the camera has sent
    its bytes, so the next download overlaps the last cut's final write."""
    from webapp.anr.download import DownloadJob

    anr_app.config.update(ANR_CONCURRENCY=3, ANR_DOWNLOAD_CONCURRENCY=1)
    active, most, events = [0], [0], []
    lock = threading.Lock()
    pump, wait_cut = DownloadJob._pump, DownloadJob._wait_cut

    def counted_pump(self, *args, **kwargs):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            return pump(self, *args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    def cut_end_seen(self):
        events.append(("cut ends", self.gap_id, self._slot_held))
        return wait_cut(self)

    monkeypatch.setattr(DownloadJob, "_pump", counted_pump)
    monkeypatch.setattr(DownloadJob, "_wait_cut", cut_end_seen)
    start = minute_edge(20) - timedelta(seconds=20)
    gaps = []
    for i in range(3):
        vendor_camera(cardcam, "hikvision", camera_id=f"cam{i}", channel=i + 1,
                      fill_method="download")  # fmt: skip
        gaps.append(factories.make_gap(f"cam{i}", start, seconds=40))

    run_worker(anr_app)

    assert [gap_now(g.id).fill_state for g in gaps] == ["filled"] * 3
    assert most[0] == 1  # one download at a time, as configured
    # Every cut's last step ran with its slot already given back.
    assert len(events) == 3 and not any(held for _e, _g, held in events)
