"""Print Replenish's performance table: medians, each next to a floor or partner from the same run.

Usage: ``make bench`` (several minutes), ``make bench BENCH_ARGS=--quick`` (about a minute,
smaller dataset and fewer runs); ``--only fleet,queue`` measures only those groups of figures.
The table goes to stdout as Markdown, progress to stderr, with the machine's load average before
and after. Every target line ends in PASS or MISS (or n/a with the reason when the feature is not
in this build), marked when measured while the load average exceeded the cores; the exit status
is 0 either way, because a benchmark reports, it does not gate.

The web figures run on a generated SQLite database (1,000 cameras and 1,000,000 gaps, a tenth of
them pending: the queue; grown to 10,000 then 100,000 cameras for the fleet figures); the
worker-claims figure needs PostgreSQL (``BENCH_DATABASE_URL`` or ``TEST_DATABASE_URL``; it drops
and recreates the tables there).
"""

import argparse
import shutil
import sqlite3
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import dataset  # noqa: E402
from bench import engine  # noqa: E402
from bench import evidence  # noqa: E402
from bench import load  # noqa: E402
from bench import onvif  # noqa: E402
from bench import web  # noqa: E402
from bench.timing import Table  # noqa: E402
from bench.timing import note  # noqa: E402
from bench.timing import paired  # noqa: E402
from bench.timing import settle  # noqa: E402
from webapp.extensions import db  # noqa: E402


@dataclass
class Sizes:
    """How big and how often: the full run of the contract, or the quick development subset."""

    cameras: int = 1000
    gaps_per_camera: int = 1000
    fleet_cameras: int = 10_000
    big_fleet_cameras: int = 100_000
    runs: int = 60
    fleet_runs: int = 20
    queue_runs: int = 20
    load_seconds: float = 30.0
    connections: int = 4
    claim_runs: int = 3
    claim_seconds: float = 6.0
    retry_gaps: int = 100_000
    retry_runs: int = 3
    retry_timeout: float = 120.0
    index_files: int = 100_000
    fill_runs: int = 3


QUICK = Sizes(
    cameras=100,
    gaps_per_camera=600,
    fleet_cameras=1000,
    big_fleet_cameras=10_000,
    runs=15,
    fleet_runs=8,
    queue_runs=8,
    load_seconds=8.0,
    claim_runs=1,
    claim_seconds=3.0,
    retry_gaps=10_000,
    retry_runs=1,
    retry_timeout=60.0,
    index_files=10_000,
    fill_runs=1,
)

# ``--only`` names: which groups of figures a run measures (all by default).
GROUPS = ("json", "pages", "queue", "load", "fleet", "retry", "engine")


def guarded(table: Table, figure: str, target: str, measure) -> None:
    """Run one figure's ``measure()``; a failure becomes an n/a line, never a lost table."""
    table.mark_start()
    try:
        measure()
    except web.Unavailable as exc:
        table.na(figure, target, str(exc))
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        table.na(figure, target, f"{exc.__class__.__name__}: {str(exc)[:100]}")


def ratio_line(table, figure, a_ms, b_ms, partner, limit) -> None:
    """A figure, its partner, the ratio and the target ``<= limit``."""
    r = a_ms / b_ms
    table.target(
        figure,
        f"{a_ms:.2f} ms",
        f"{partner} {b_ms:.2f} ms",
        f"{r:.2f}x",
        f"<= {limit}x",
        r <= limit,
    )


def web_figures(table: Table, s: Sizes, workdir: Path, only=GROUPS) -> None:
    """Every figure on the generated SQLite database, in an order that only ever adds data."""
    db_path = workdir / "bench.db"
    url = f"sqlite:///{db_path}"
    app = engine.app_for(url, WTF_CSRF_ENABLED=False)
    note(f"loading {s.cameras:,} cameras x {s.gaps_per_camera:,} gaps")
    with app.app_context():
        db.create_all()
        cams = dataset.add_cameras(s.cameras)
        took = dataset.add_gaps(cams, s.gaps_per_camera)
    table.info(
        f"bulk load of {s.cameras * s.gaps_per_camera:,} gaps (SQLite, executemany)",
        f"{took:.1f} s",
        "indexes rebuilt once, statistics recounted",
    )
    client = dataset.signed_in_client(app)
    con = sqlite3.connect(db_path)
    cam = cams[len(cams) // 2]

    def json_list():
        a, b = web.json_list(client, con, cam, s.runs)
        ratio_line(table, "JSON list of 500 gaps through the app", a, b, "driver + json.dumps", 2.0)

    def gap_page():
        a, b = web.gap_page(client, cam, s.runs)
        ratio_line(
            table,
            "camera gap page (50 rows, tabs with counts, timeline)",
            a,
            b,
            "app's JSON for the rows and counts",
            3.0,
        )

    if "pages" in only:
        note("JSON list and gap page")
        guarded(table, "JSON list of 500 gaps", "<= 2.0x", json_list)
        guarded(table, "camera gap page", "<= 3.0x", gap_page)

    def queue_line():
        a, b, queued = web.queue_page(client, cam, s.queue_runs)
        ratio_line(
            table, f"/queue with {queued:,} queued gaps", a, b, "camera gap page", 2.0
        )  # fmt: skip

    if "queue" in only:
        note("/queue with the pending tenth of the gaps queued")
        guarded(table, "/queue with the queued gaps", "<= 2.0x", queue_line)
    if "load" in only:
        guarded(
            table,
            "gunicorn -w 2 load, gap page",
            "0 errors; p99 <= 3x p50",
            lambda: load_figure(table, s, app, client, url, cam, workdir),
        )
    if "fleet" in only:
        guarded(
            table,
            f"fleet page at {s.fleet_cameras:,} and {s.big_fleet_cameras:,} cameras",
            "<= 2.0x; growth <= 1.2x",
            lambda: fleet_figures(table, s, app, client, cam, workdir),
        )
    if "retry" in only:
        guarded(
            table,
            f"bulk retry of {s.retry_gaps:,} failed gaps, to the job's end",
            "<= 20x, never a timeout",
            lambda: bulk_retry_line(table, s, app, client, con),
        )
    con.close()


def fleet_figures(table: Table, s: Sizes, app, client, cam: str, workdir: Path) -> None:
    """The fleet page at ``fleet_cameras`` vs the gap page, then its growth to ten times that.

    The fleet grows by cameras with few gaps (10 each to ``fleet_cameras``, 1 each beyond), so
    the gaps stay about the same while the cameras grow tenfold: the growth line measures what
    the fleet page costs per camera, which keyset pages and maintained counts keep flat. A copy
    of the database at ``fleet_cameras`` (SQLite's backup API) serves the smaller fleet, so the
    two sizes are measured alternately in the same minutes (a busy neighbour slows both alike).
    """
    gaps = s.cameras * s.gaps_per_camera
    steps = (
        (s.fleet_cameras - s.cameras, s.cameras, max(1, s.gaps_per_camera // 100)),
        (s.big_fleet_cameras - s.fleet_cameras, s.fleet_cameras, 1),
    )
    sizes = []
    for count, first, each in steps:
        note(f"growing the fleet to {first + count:,} cameras")
        with app.app_context():
            took = dataset.grow_fleet(count, first, each)
            db.session.remove()
        gaps += count * each
        sizes.append(gaps)
        table.info(
            f"fleet grown by {count:,} cameras with {each} gap(s) each",
            f"{took:.1f} s",
            "driver executemany, statistics from the rows written",
        )
        if len(sizes) == 1:
            note(f"fleet page at {first + count:,} cameras")
            small_ms, partner = web.fleet_page(client, cam, s.fleet_runs)
            ratio_line(
                table,
                f"fleet page, first 100 of {s.fleet_cameras:,} cameras, {gaps:,} gaps",
                small_ms,
                partner,
                "camera gap page",
                2.0,
            )
            small_db = workdir / "fleet-small.db"
            with app.app_context():
                db.engine.dispose()
            src = sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
            with sqlite3.connect(small_db) as dst:
                src.backup(dst)
            src.close()
    note(f"fleet page at {s.big_fleet_cameras:,} vs {s.fleet_cameras:,} cameras, alternately")
    small_app = engine.app_for(f"sqlite:///{small_db}", WTF_CSRF_ENABLED=False)
    small_client = dataset.signed_in_client(small_app)
    web.get_ok(small_client, "/cameras")
    big_ms, small_ms = paired(
        lambda: client.get("/cameras"), lambda: small_client.get("/cameras"), s.fleet_runs
    )
    r = big_ms / small_ms
    table.target(
        f"fleet page growth, {s.fleet_cameras:,} -> {s.big_fleet_cameras:,} cameras"
        f" ({sizes[0]:,} -> {sizes[1]:,} gaps)",
        f"{big_ms:.2f} ms",
        f"at {s.fleet_cameras:,}: {small_ms:.2f} ms (same minutes)",
        f"{r:.2f}x",
        "<= 1.2x",
        r <= 1.2,
    )


def bulk_retry_line(table: Table, s: Sizes, app, client, con) -> None:
    """Retry-failed of ``retry_gaps`` failed gaps on one camera, to the job's end."""
    note(f"bulk retry of {s.retry_gaps:,} failed gaps")
    # The quick subset's 10,000 gaps are under the sync limit: halve it so it takes a job too.
    limit = app.config["BULK_RETRY_SYNC_LIMIT"]
    app.config["BULK_RETRY_SYNC_LIMIT"] = min(limit, s.retry_gaps // 2)
    with app.app_context():
        bulk = dataset.add_cameras(1, first=s.big_fleet_cameras + 1)
        dataset.add_gaps(bulk, s.retry_gaps, state="failed", seed=9)
        db.session.remove()
    a, b = web.bulk_retry(app, client, con, bulk[0], s.retry_gaps, s.retry_runs, s.retry_timeout)
    r = a / b
    table.target(
        f"bulk retry of {s.retry_gaps:,} failed gaps (retry-failed API), to the job's end",
        f"{a:.2f} s",
        f"bare SQL UPDATE {b:.3f} s",
        f"{r:.1f}x",
        "<= 20x",
        r <= 20,
    )


def load_figure(table, s: Sizes, app, client, url, cam, workdir) -> None:
    """The gunicorn figure, signed in with the bench client's own session cookie."""
    note(f"gunicorn -w 2 under {s.connections} connections for {s.load_seconds:.0f} s")
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    res = load.measure(
        url,
        app.config["SECRET_KEY"],
        f"{cookie.key}={cookie.value}",
        f"/cameras/{cam}/gaps",
        s.connections,
        s.load_seconds,
        workdir / "instance",
    )
    p50, p99 = res.quantile(0.50), res.quantile(0.99)
    ratio = p99 / p50 if p50 else float("inf")
    errors = f"{res.errors} errors" + (f" (first: {res.first_error})" if res.errors else "")
    table.target(
        f"gunicorn -w 2, {s.connections} connections, {s.load_seconds:.0f} s, gap page",
        f"{res.rps:.0f} req/s, {errors}",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        f"p99 {ratio:.2f}x p50",
        "0 errors; p99 <= 3x p50",
        res.errors == 0 and ratio <= 3.0,
    )


def json_figures(table: Table) -> None:
    """§18: the JSON nesting and text check is linear: the worst 100 KB and 1 MiB bodies."""
    for size, label in ((100_000, "100 KB"), (1024 * 1024, "1 MiB")):
        took, shape = web.json_check_seconds(size)
        table.target(
            f"JSON body check, worst {label} body",
            f"{took * 1000:.0f} ms CPU",
            f"slowest shape: {shape}",
            "",
            "<= 1 s",
            took <= 1.0,
        )


def outage_figure(table: Table, quick: bool) -> None:
    """Site-outage recovery, measured by ``bench/outage.py`` (the median of alternating rounds)."""
    figure, target = "site-outage recovery, 100 cameras x 10-min gap", "<= 1.25x"
    try:
        from bench import outage
    except ImportError:
        table.na(figure, target, "bench/outage.py not in this build (download fills)")
        return
    wall, floor = outage.measure(quick)
    table.after(outage.rounds_text())
    table.after(outage.phase_table())  # where the median round's time went, phase by phase
    table.target(
        figure,
        f"{wall:.1f} s" + (f" (median of {len(outage.last_rounds)})" if quick is False else ""),
        f"bare ffmpeg -c copy pool {floor:.1f} s",
        f"{wall / floor:.2f}x",
        target,
        wall / floor <= 1.25,
    )


def _waits(waits: Counter) -> str:
    """The lock waits sampled, most frequent first."""
    return ", ".join(f"{event} {n}" for event, n in waits.most_common(4)) or "none"


def engine_figures(table: Table, s: Sizes, workdir: Path, quick: bool) -> None:
    """Outage slot, PostgreSQL claims, then the information lines of the engine."""
    # What the web figures leave running (PostgreSQL's autovacuum after the bulk retry, the
    # page cache writing back) would land on the engine lines: they start on a quiet machine.
    note(f"waited {settle():.0f} s for the machine to settle before the engine lines")
    guarded(table, "site-outage recovery", "<= 1.25x", lambda: outage_figure(table, quick))
    figure, target = "worker claims, 200 ms fills, PostgreSQL, 1 vs 4 workers", ">= 3.5x"
    url, why = engine.postgres_url()
    if url is None:
        table.na(figure, target, why)
    else:

        def claims():
            note("worker claims on PostgreSQL")
            one, four, waits = engine.claims_speedup(url, s.claim_runs, s.claim_seconds)
            table.target(
                figure,
                f"4 workers {four:.0f} claims/s",
                f"1 worker {one:.0f} claims/s",
                f"{four / one:.2f}x",
                target,
                four / one >= 3.5,
            )
            table.info(
                "lock waits sampled during the 4-worker claims", _waits(waits), "every 20 ms"
            )
            noop: Counter = Counter()
            rate = engine.claims_per_second(url, 1, s.claim_seconds, noop, fill_s=0.0)
            table.info(
                "worker claims, no-op fill, 1 worker, PostgreSQL",
                f"{rate:.0f} claims/s",
                f"lock waits sampled every 20 ms: {_waits(noop)}",
            )

        guarded(table, figure, target, claims)
    note("evidence export of a 10-min gap")
    guarded(
        table,
        "export of a 10-min gap",
        "<= 1.5x",
        lambda: evidence.figure(table, workdir, quick),
    )
    figure, target = "ONVIF replay fill of 10 min from the Profile G test camera", ">= 5x faster"

    def onvif_line():
        note("ONVIF replay fill of a 10 min window")
        window = 600
        took = onvif.onvif_fill(window)
        table.target(
            figure, f"{took:.1f} s", f"real time {window} s", f"{window / took:.1f}x faster",
            target, window / took >= 5,
        )  # fmt: skip

    guarded(table, figure, target, onvif_line)
    note("indexer rescan and a 60 s fill")
    guarded(
        table,
        "indexer rescan",
        "",
        lambda: table.info(
            f"indexer: rescan of an unchanged folder of {s.index_files:,} files",
            f"{engine.indexer_rescan(workdir, s.index_files) * 1000:.0f} ms",
            "stat only, no probe",
        ),
    )
    guarded(
        table,
        "fill of a 60 s gap",
        "",
        lambda: table.info(
            "fill of a 60 s gap from the simulated camera (anr worker --once)",
            f"{engine.fill_60s(workdir, s.fill_runs):.2f} s",
            "includes rendering the footage",
        ),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the one-minute development subset")
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated groups of figures to measure (default all: {','.join(GROUPS)})",
    )
    args = parser.parse_args()
    only = {g.strip() for g in args.only.split(",") if g.strip()}
    if only - set(GROUPS):
        parser.error(f"--only: unknown {', '.join(sorted(only - set(GROUPS)))}")
    sizes = QUICK if args.quick else Sizes()
    workdir = Path(tempfile.mkdtemp(prefix="replenish-bench-"))
    mode = "quick subset" if args.quick else "full run"
    print(f"Replenish benchmark, {mode} (medians; ratios against partners from the same run)\n")
    try:
        table = Table()
        if "json" in only:
            guarded(table, "JSON body check", "<= 1 s", lambda: json_figures(table))
        if only & {"pages", "queue", "load", "fleet", "retry"}:
            web_figures(table, sizes, workdir, only)
        if "engine" in only:
            engine_figures(table, sizes, workdir, args.quick)
        table.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
