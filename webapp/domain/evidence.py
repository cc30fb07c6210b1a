"""Evidence: a gap's archive files, their hashes, and the signed export that proves them.

See docs/design.md, Evidence. The hash is taken when a file is written (or first indexed) and
stored on its segment; an export re-hashes every file as it streams it into the ZIP, so the
manifest states what the ZIP holds and whether that still equals what was recorded. The manifest
is signed with the installation's Ed25519 key; ``verify_export`` needs only the ZIP and the
public key.
"""

import base64
import binascii
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from ..extensions import db
from ..masking import mask_credentials
from ..models import AuditLog
from ..models import FillRun
from ..models import Segment
from ..models import rfc3339
from ..models import utcnow
from . import audit
from .errors import NotFound
from .times import zone

ARCHIVE_FILE_RE = re.compile(r"^\d{8}_\d{6}\.mp4$")
KEY_FILE = "evidence-ed25519.pem"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
FORMAT = "replenish-evidence/1"
CHUNK = 1 << 20  # read and hash 1 MiB at a time: a multi-GB export never sits in memory


def sha256_file(path: Path) -> str:
    """The SHA-256 (hex) of a file, read in pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- the gap's footage -------------------------------------------------------------------------
@dataclass(frozen=True)
class FootageFile:
    """One archive file that overlaps a gap's window."""

    name: str
    start: datetime
    end: datetime
    seconds: float
    size_bytes: int
    sha256: str | None


def footage(camera_id: str, gap) -> list[FootageFile]:
    """The camera's archive files overlapping the gap's window, in time order."""
    rows = db.session.execute(
        select(Segment)
        .where(
            Segment.camera_id == camera_id,
            Segment.start_time < gap.gap_end,
            Segment.end_time > gap.gap_start,
        )
        .order_by(Segment.start_time)
    ).scalars()
    return [
        FootageFile(s.path, s.start_time, s.end_time, s.duration_s, s.size_bytes, s.sha256)
        for s in rows
        if ARCHIVE_FILE_RE.match(s.path)  # demo rows with folders are not files we serve
    ]


def archive_path(root: Path, camera_id: str, name: str) -> Path:
    """The archive file ``name`` of a camera; 404 for any other name or a missing file.

    The strict name (``YYYYmmdd_HHMMSS.mp4``) is what keeps a request inside the folder.
    """
    if not ARCHIVE_FILE_RE.match(name):
        raise NotFound("no such archive file (names look like 20261202_120000.mp4)")
    path = root / camera_id / name
    if not path.is_file():
        raise NotFound(f"archive file {name} not found")
    return path


# --- the installation's key --------------------------------------------------------------------
def signing_key(instance_path: str | os.PathLike) -> Ed25519PrivateKey:
    """The installation's evidence key, generated into ``instance/`` (mode 0600) on first use."""
    path = Path(instance_path) / KEY_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two first uses at once keep one key, the other reads it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return signing_key(instance_path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return key
    loaded = serialization.load_pem_private_key(data, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return loaded


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as one line of base64 (its 32 raw bytes): easy to print, paste and pass."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64 line or a PEM block; ValueError when it is neither."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        loaded = serialization.load_pem_public_key(text.encode())
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return loaded
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not a base64 Ed25519 public key") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


# --- the manifest ------------------------------------------------------------------------------
def _camera_time(value: datetime, tz_name: str) -> str:
    return value.astimezone(zone(tz_name)).isoformat()


def _runs(gap_id: str) -> list[dict]:
    rows = db.session.execute(
        select(FillRun).where(FillRun.gap_id == gap_id).order_by(FillRun.id)
    ).scalars()
    return [
        {
            "method": r.method,
            "started_at": rfc3339(r.started_at),
            "ended_at": rfc3339(r.ended_at),
            "outcome": r.outcome or "running",
            "recovered_seconds": r.recovered_seconds,
            "bytes": r.bytes_written,
            "source": mask_credentials(r.source) if r.source else None,
            "requested_by": r.requested_by,
            "error": mask_credentials(r.error) if r.error else None,
        }
        for r in rows
    ]


BULK_ACTIONS = ("anr_retry_failed", "anr_retry_selected")
MAX_BULK_ROWS = 1000  # a camera's bulk retries since the gap was found, read to find this gap


def _audit_rows(camera_id: str, gap) -> list[dict]:
    """The gap's own audit rows, and the camera's bulk retries that named it."""
    own = db.session.execute(
        select(AuditLog).where(
            AuditLog.target_type == "recording_gap", AuditLog.target_id == gap.id
        )
    ).scalars()
    bulk = db.session.execute(
        select(AuditLog)
        .where(
            AuditLog.target_type == "camera",
            AuditLog.target_id == camera_id,
            AuditLog.action.in_(BULK_ACTIONS),
            AuditLog.created_at >= gap.created_at,
        )
        .order_by(AuditLog.created_at.desc())
        .limit(MAX_BULK_ROWS)
    ).scalars()
    named = [r for r in bulk if gap.id in ((r.detail or {}).get("gap_ids") or ())]
    rows = sorted([*own, *named], key=lambda r: (r.created_at, r.id))
    return [
        {
            "at": rfc3339(r.created_at),
            "action": r.action,
            "actor": r.actor_name,
            "role": r.role,
            "detail": r.detail,
        }
        for r in rows
    ]


def manifest_head(camera, gap, actor) -> dict:
    """Everything in the manifest but the files (which are hashed while the ZIP streams)."""
    tz = camera.timezone or "UTC"
    now = utcnow()
    role = getattr(actor, "acting_role", actor.role)
    return {
        "format": FORMAT,
        "camera": {"id": camera.id, "name": camera.name, "site": camera.site, "timezone": tz},
        "gap": {"id": gap.id, "state": gap.fill_state, "seconds": gap.gap_seconds},
        "window": {
            "start_utc": rfc3339(gap.gap_start),
            "end_utc": rfc3339(gap.gap_end),
            "start_camera_time": _camera_time(gap.gap_start, tz),
            "end_camera_time": _camera_time(gap.gap_end, tz),
        },
        "fill_runs": _runs(gap.id),
        "audit": _audit_rows(camera.id, gap),
        "exported_by": {"name": actor.actor_name, "role": role},
        "exported_at": rfc3339(now),
    }


def record_export(camera, gap, files: list[FootageFile], actor) -> None:
    """The ``evidence_export`` audit row (the caller commits, before the ZIP streams)."""
    audit.record(
        "evidence_export",
        "recording_gap",
        gap.id,
        camera_id=camera.id,
        detail={"camera_id": camera.id, "files": [f.name for f in files]},
        actor=actor,
    )


# --- the streamed ZIP --------------------------------------------------------------------------
class _Sink:
    """A write-only stream the ZIP writes into; the generator hands out what piled up."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the parts leave through ``drain``."""

    def close(self) -> None:
        """Nothing to close: the generator hands out the last parts."""

    def drain(self) -> Iterator[bytes]:
        parts, self._parts = self._parts, []
        if parts:
            yield b"".join(parts)


def export_zip(
    head: dict,
    files: Iterable[tuple[FootageFile, Path]],
    key: Ed25519PrivateKey,
) -> Iterator[bytes]:
    """The evidence ZIP, piece by piece: the MP4s (stored), then ``manifest.json`` and its sig.

    Each file is read once: the same pieces feed its SHA-256 and the ZIP (ZIP_STORED: footage
    does not compress, and the bench compares this with ``sha256sum`` + ``zip -0``).
    """
    sink = _Sink()
    listed = []
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for item, path in files:
            digest = hashlib.sha256()
            size = 0
            info = zipfile.ZipInfo(item.name, date_time=item.start.timetuple()[:6])
            with open(path, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                    yield from sink.drain()
            sha = digest.hexdigest()
            listed.append(
                {
                    "name": item.name,
                    "start": rfc3339(item.start),
                    "end": rfc3339(item.end),
                    "seconds": item.seconds,
                    "size_bytes": size,
                    "sha256": sha,
                    "sha256_recorded": item.sha256,
                    "matches_record": item.sha256 == sha if item.sha256 else None,
                }
            )
            yield from sink.drain()
        body = dict(head, files=listed, public_key=public_key_text(key))
        manifest = json.dumps(body, indent=2, sort_keys=True).encode()
        zf.writestr(MANIFEST, manifest)
        zf.writestr(SIGNATURE, base64.b64encode(key.sign(manifest)) + b"\n")
    yield from sink.drain()


def verify_export(zip_path: str | os.PathLike, public_key: Ed25519PublicKey) -> list[str]:
    """What differs between an evidence ZIP and its signed manifest; empty when all matches."""
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"not a readable ZIP: {exc}"]
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            return [f"{MANIFEST} or {SIGNATURE} is missing"]
        manifest = zf.read(MANIFEST)
        try:
            public_key.verify(base64.b64decode(zf.read(SIGNATURE).strip()), manifest)
        except (InvalidSignature, binascii.Error, ValueError):
            problems.append(
                f"{SIGNATURE}: the signature does not match {MANIFEST} under this public key "
                "(the manifest was changed, or another key signed it)"
            )
        try:
            listed = json.loads(manifest)["files"]
        except (ValueError, KeyError, TypeError):
            return [*problems, f"{MANIFEST} is not a manifest"]
        for entry in listed:
            name = entry.get("name", "?")
            if name not in names:
                problems.append(f"{name}: listed in the manifest but not in the ZIP")
                continue
            digest = hashlib.sha256()
            size = 0
            try:
                with zf.open(name) as fh:
                    while chunk := fh.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
            except zipfile.BadZipFile:  # the ZIP's own CRC-32 caught the change first
                problems.append(f"{name}: differs from the manifest (its bytes changed)")
                continue
            if digest.hexdigest() != entry.get("sha256"):
                problems.append(f"{name}: differs from the manifest (SHA-256)")
            elif size != entry.get("size_bytes"):
                problems.append(f"{name}: differs from the manifest (size)")
        extra = names - {MANIFEST, SIGNATURE} - {e.get("name") for e in listed}
        problems += [f"{name}: in the ZIP but not in the manifest" for name in sorted(extra)]
    return problems


# --- the archive check (`flask anr verify`) ----------------------------------------------------
@dataclass
class ArchiveCheck:
    """What a re-hash of the archive found, by file (``camera/name``)."""

    checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unhashed: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.changed or self.missing)


def archive_segments(camera_id: str | None) -> list[Segment]:
    """The segments ``flask anr verify`` checks: the archive files, one camera or all."""
    query = select(Segment).order_by(Segment.camera_id, Segment.start_time)
    if camera_id:
        query = query.where(Segment.camera_id == camera_id)
    return [s for s in db.session.execute(query).scalars() if ARCHIVE_FILE_RE.match(s.path)]


def check_segment(root: Path, segment: Segment, check: ArchiveCheck) -> None:
    """Re-hash one segment's file into ``check``."""
    label = f"{segment.camera_id}/{segment.path}"
    path = root / segment.camera_id / segment.path
    check.checked += 1
    if not path.is_file():
        check.missing.append(label)
    elif not segment.sha256:
        check.unhashed.append(label)
    elif sha256_file(path) != segment.sha256:
        check.changed.append(label)
