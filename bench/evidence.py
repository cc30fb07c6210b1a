"""The evidence export figure (SPEC §23): hash + zip + sign of a 10-min gap vs sha256sum + zip -0.

Run alone with ``python -m bench.evidence [--quick]``; ``make bench`` runs it among the engine
lines. The footage is ten one-minute files of random bytes at a camera's 4 Mbit/s (30 MB each;
``--quick`` 5 MB): MP4 does not compress, and the export never parses it, so the bytes are what
cost. Both sides read the same files from the page cache and write their ZIP to the same disk.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import Table  # noqa: E402
from bench.timing import paired  # noqa: E402
from webapp.domain import evidence  # noqa: E402

FILES = 10  # one-minute archive files of a 10-min gap
FULL_MB = 30  # 4 Mbit/s for a minute
QUICK_MB = 5


def make_footage(folder: Path, megabytes: int) -> list[tuple[evidence.FootageFile, Path]]:
    """Ten one-minute archive files of ``megabytes`` each, as the export lists them."""
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 6, 13, 12, 0, tzinfo=UTC)
    files = []
    for i in range(FILES):
        begin = start + timedelta(minutes=i)
        path = folder / begin.strftime("%Y%m%d_%H%M%S.mp4")
        with open(path, "wb") as fh:
            for _ in range(megabytes):
                fh.write(os.urandom(1 << 20))
        item = evidence.FootageFile(
            path.name, begin, begin + timedelta(minutes=1), 60.0, path.stat().st_size, None
        )
        files.append((item, path))
    return files


def measure(workdir: Path, quick: bool, runs: int) -> tuple[float, float, int]:
    """Median ms of the export and of ``sha256sum`` + ``zip -0``; and the bytes exported."""
    for tool in ("sha256sum", "zip"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (the partner of the export figure)")
    files = make_footage(workdir / "footage", QUICK_MB if quick else FULL_MB)
    key = evidence.signing_key(workdir / "instance")
    head = {"format": evidence.FORMAT, "camera": {"id": "bench"}}
    ours, theirs = workdir / "export.zip", workdir / "partner.zip"
    paths = [str(p) for _, p in files]

    def export() -> None:
        with open(ours, "wb") as out:
            for piece in evidence.export_zip(head, files, key):
                out.write(piece)

    def partner() -> None:
        theirs.unlink(missing_ok=True)
        subprocess.run(["sha256sum", *paths], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["zip", "-0", "-q", "-j", str(theirs), *paths], check=True)

    export_ms, partner_ms = paired(export, partner, runs)
    return export_ms, partner_ms, sum(p.stat().st_size for _, p in files)


def figure(table, workdir: Path, quick: bool) -> None:
    """The table line: export of a 10-min gap against the command-line tools."""
    export_ms, partner_ms, size = measure(workdir, quick, 2 if quick else 5)
    ratio = export_ms / partner_ms
    table.target(
        f"export of a 10-min gap ({size / 1e6:.0f} MB: hash + zip + sign)",
        f"{export_ms:.0f} ms",
        f"sha256sum + zip -0 {partner_ms:.0f} ms",
        f"{ratio:.2f}x",
        "<= 1.5x",
        ratio <= 1.5,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 MB files instead of 30 MB")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="replenish-bench-evidence-"))
    try:
        figure(Table(), workdir, args.quick)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
