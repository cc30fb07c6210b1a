"""Configuration read from the environment; tests pass a mapping to ``create_app`` instead."""

import os
import secrets
from pathlib import Path

CORES = os.cpu_count() or 1

# Every setting with its default; the README's configuration table mirrors this.
ANR_DEFAULTS: dict[str, object] = {
    "ANR_FFMPEG_BIN": "",  # empty: the ffmpeg binary shipped in the imageio-ffmpeg wheel
    "ANR_INTERVAL_S": 30.0,
    "ANR_MAX_ATTEMPTS": 3,
    "ANR_MAX_GAP_HOURS": 72.0,
    # Replay fills wait on the camera's real-time stream, so more may run than there are cores;
    # a download fill's cut is CPU and disk work, so download fills follow the core count.
    "ANR_CONCURRENCY": max(4, 2 * CORES),
    "ANR_DOWNLOAD_CONCURRENCY": CORES,
    "ANR_MAX_KBPS": 0,  # all download fills of a worker together; 0 = no cap
    "ANR_PER_CAMERA": 1,
    "ANR_LEASE_SECONDS": 60,
    "ANR_MAX_FILL_SECONDS": 3600,
    "ANR_MIN_GAP_SECONDS": 3.0,
    "ANR_FILL_WINDOW": "",
    "ANR_WEBHOOK_URLS": "",
    "ANR_WEBHOOK_SECRET": "",
    "ANR_WEBHOOK_ATTEMPTS": 5,
    "ANR_WEBHOOK_BACKOFF_S": 2.0,
    "ANR_STALE_MINUTES": 10.0,
    "ANR_EMBED_ORIGINS": "",
    "ANR_IO_TIMEOUT_S": 15.0,
    "ANR_AUDIO": "aac",  # aac: transcode the camera's audio (G.711 cannot go into MP4); drop
    "ANR_CHUNK_SECONDS": 1800,
    # What a camera's answers may make the worker read (design.md, "Hostile cameras").
    "ANR_CAMERA_MAX_XML_BYTES": 4 * 1024 * 1024,  # a search/XML/SOAP answer, unpacked
    "ANR_CARD_MAX_ITEMS": 10_000,  # recordings one card check may list
    "ANR_DOWNLOAD_MAX_MBPS": 64.0,  # a download may bring this x window seconds x 1.5
    "ANR_MIN_FREE_MB": 1024,  # a download stops before the archive disk gets this full
    "ANR_GST_PYTHON": "/usr/bin/python3",  # the Python with GStreamer's bindings (ONVIF replay)
}

# Request limits, the proxy setting, the database busy timeout and the sign-in throttle.
SECURITY_DEFAULTS: dict[str, object] = {
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # 1 MiB: the largest legitimate body is a camera form
    "MAX_FORM_MEMORY_SIZE": 512 * 1024,  # one non-file form field
    "MAX_FORM_PARTS": 200,  # the camera form, the largest, has about 20 fields
    "MAX_JSON_DEPTH": 32,
    "TRUSTED_PROXIES": 0,  # reverse proxies whose X-Forwarded-For is believed (ProxyFix x_for)
    "DB_BUSY_TIMEOUT_S": 2.0,
    "BULK_RETRY_SYNC_LIMIT": 20000,
    "SESSION_LIFETIME_HOURS": 12,  # every session cookie, counted from sign-in
    "EMBED_SESSION_MINUTES": 60,  # an embed session (its minting key is checked every request)
}


def _coerce(default: object, raw: str) -> object:
    """Turn an environment string into the type of its default."""
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_secret_key(instance_path: str) -> str:
    """Return SECRET_KEY from the environment, else one generated once and kept under instance/."""
    env = os.environ.get("SECRET_KEY")
    if env:
        return env
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Create with 0600 so the key is never world-readable, even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing (never world-readable, even briefly)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def secure_instance(instance_path: str, database_uri: str) -> None:
    """Every file directly under ``instance/`` (database, keys, demo logins) is 0600.

    The SQLite database file is created 0600 before SQLite opens it; SQLite gives its ``-wal``
    and ``-shm`` files the database's mode. Files made earlier with a looser mode are tightened.
    Recordings (in their own folders) are left as they are.
    """
    folder = Path(instance_path)
    prefix = "sqlite:///"
    if database_uri.startswith(prefix) and database_uri != prefix + ":memory:":
        db_path = Path(database_uri[len(prefix) :].split("?", 1)[0])
        if db_path.parent.is_dir():
            create_private(db_path)
    for path in folder.iterdir() if folder.is_dir() else ():
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


def from_environment(instance_path: str) -> dict[str, object]:
    """Build the configuration mapping from the process environment."""
    cfg: dict[str, object] = {
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")
        or f"sqlite:///{Path(instance_path) / 'replenish.db'}",
        "ANR_RECORDINGS_DIR": os.environ.get("ANR_RECORDINGS_DIR")
        or str(Path(instance_path) / "recordings"),
        "METRICS_PUBLIC": _coerce(False, os.environ.get("METRICS_PUBLIC", "0")),
        "SESSION_COOKIE_SECURE": _coerce(False, os.environ.get("SESSION_COOKIE_SECURE", "0")),
    }
    for name, default in SECURITY_DEFAULTS.items():
        raw = os.environ.get(name)
        cfg[name] = default if raw is None or raw == "" else _coerce(default, raw)
    for name, default in ANR_DEFAULTS.items():
        raw = os.environ.get(name)
        cfg[name] = default if raw is None or raw == "" else _coerce(default, raw)
    return cfg


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` and plain ``postgresql://`` URLs and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
