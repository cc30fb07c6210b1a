"""The app starts, serves liveness, and the login page renders."""


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok"}


def test_login_page_renders(client):
    resp = client.get("/login")
    assert resp.status_code == 200
    assert b"Sign in to Replenish" in resp.data


def test_instance_files_are_private(tmp_path, monkeypatch):
    """§18: the SQLite database (and its WAL files), the secret key and the rest are 0600."""
    import os
    import stat

    from webapp import create_app
    from webapp.extensions import db

    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "old-notes.txt").write_text("left by an earlier version")
    (instance / "old-notes.txt").chmod(0o644)
    monkeypatch.setenv("REPLENISH_INSTANCE", str(instance))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    previous = os.umask(0o022)  # the usual umask, under which files are made world-readable
    try:
        app = create_app()
        with app.app_context():
            db.create_all()
            db.session.execute(db.text("SELECT 1"))  # WAL mode: -wal and -shm files appear
            files = sorted(p.name for p in instance.iterdir() if p.is_file())
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in instance.iterdir()}
            db.engine.dispose()
    finally:
        os.umask(previous)
    assert {"replenish.db", "secret_key", "old-notes.txt"} <= set(files)
    assert modes == {name: 0o600 for name in files}, modes
