"""Configuration read from the environment; tests pass a mapping to ``create_app`` instead."""

import os
import secrets
from pathlib import Path

# Every setting with its default; the README's configuration table mirrors this.
ANR_DEFAULTS = {
    "ANR_FFMPEG_BIN": "",  # empty: the ffmpeg binary shipped in the imageio-ffmpeg wheel
    "ANR_INTERVAL_S": 30.0,
    "ANR_MAX_ATTEMPTS": 3,
    "ANR_MAX_GAP_HOURS": 72.0,
    "ANR_CONCURRENCY": 4,
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
}


def _coerce(default, raw):
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


def from_environment(instance_path: str) -> dict:
    """Build the configuration mapping from the process environment."""
    cfg = {
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")
        or f"sqlite:///{Path(instance_path) / 'replenish.db'}",
        "ANR_RECORDINGS_DIR": os.environ.get("ANR_RECORDINGS_DIR")
        or str(Path(instance_path) / "recordings"),
        "METRICS_PUBLIC": _coerce(False, os.environ.get("METRICS_PUBLIC", "0")),
        "SESSION_COOKIE_SECURE": _coerce(False, os.environ.get("SESSION_COOKIE_SECURE", "0")),
    }
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
