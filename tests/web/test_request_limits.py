"""Request size limits: big bodies are refused before anything parses them."""

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIVE_MB = 5 * 1024 * 1024


def _rss_kb(pid: int, field: str = "VmHWM") -> int:
    """A process's peak (VmHWM) or current (VmRSS) resident memory in kB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.fixture
def served(tmp_path):
    """The app served by its own process: (port, pid)."""
    env = dict(os.environ, REPLENISH_INSTANCE=str(tmp_path / "instance"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.serve_app", f"sqlite:///{tmp_path / 'serve.db'}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())
        yield port, proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _send(port: int, method: str, path: str, body: bytes, content_type: str):
    """Send one request; returns (status, seconds). The server may stop reading early."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.monotonic()
    conn.putrequest(method, path)
    conn.putheader("Content-Type", content_type)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    try:
        conn.send(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before the body was read: the answer is still waiting
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, time.monotonic() - started


@pytest.mark.parametrize(("method", "path"), [("POST", "/login"), ("GET", "/healthz")])
def test_five_megabyte_form_is_refused_fast_without_memory_growth(served, method, path):
    port, pid = served
    warm_status, _ = _send(port, "GET", "/healthz", b"", "text/plain")
    assert warm_status == 200
    before = _rss_kb(pid)
    # Many small fields: the shape that made form parsing grow a worker by gigabytes.
    body = (b"a=b&" * (FIVE_MB // 4))[:FIVE_MB]
    status, seconds = _send(port, method, path, body, "application/x-www-form-urlencoded")
    grown_mb = (_rss_kb(pid) - before) / 1024
    print(f"{method} {path}: {status} in {seconds:.3f} s, peak RSS +{grown_mb:.1f} MB")
    assert status == 413
    assert seconds < 1.0
    assert grown_mb < 20


def test_two_megabyte_json_is_413(app, login_as):
    admin = login_as("admin")
    body = json.dumps({"gap_start": "x" * (2 * 1024 * 1024), "gap_end": "y"})
    resp = admin.post(
        "/api/v1/cameras/cam1/recording-gaps", data=body, content_type="application/json"
    )
    assert resp.status_code == 413
    assert resp.json["code"] == "too_large"


def test_413_page_for_a_browser(client):
    resp = client.post("/login", data={"username": "a" * (2 * 1024 * 1024), "password": "x"})
    assert resp.status_code == 413
    assert b"<html" in resp.data


def test_deep_json_is_400(app, login_as):
    from tests import factories

    with app.app_context():
        factories.make_camera("cam1")
    admin = login_as("admin")
    deep = "[" * 100_000 + "]" * 100_000
    resp = admin.post(
        "/api/v1/cameras/cam1/recording-gaps", data=deep, content_type="application/json"
    )
    assert resp.status_code == 400
    assert resp.json["code"]


def test_json_at_depth_32_is_still_parsed(app, login_as):
    from tests import factories

    with app.app_context():
        factories.make_camera("cam1")
    admin = login_as("admin")
    nested = {"gap_start": "2026-06-13T12:00:00Z", "gap_end": "2026-06-13T12:05:00Z"}
    payload = dict(nested, extra=json.loads("[" * 30 + "]" * 30))
    resp = admin.post("/api/v1/cameras/cam1/recording-gaps", json=payload)
    assert resp.status_code == 201, resp.json


def test_too_many_form_parts_is_413(client):
    body = "&".join(f"f{i}=x" for i in range(5000))
    resp = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413


ONE_MIB = 1024 * 1024


def _worst_bodies(size: int) -> dict[str, bytes]:
    """Bodies of ``size`` bytes shaped to hurt a nesting check (the probe's and a few others)."""
    head = b'{"gap_start":[["'
    return {
        "escaped quotes in an open string": head + b'\\"' * ((size - len(head)) // 2),
        "open brackets": b"[" * size,
        "closed brackets": b"[" * (size // 2) + b"]" * (size // 2),
        "many small strings": b"[" + b'"a",' * (size // 4 - 1) + b'"a"]',
        "deep objects": b'{"a":' * (size // 5),
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cameras/cam1/recording-gaps",
        "/api/v1/cameras/cam1/recording-gaps/retry-selected",
        "/api/v1/embed-sessions",
    ],
)
def test_one_mebibyte_worst_case_bodies_are_answered_quickly(app, login_as, path):
    """§18: a 1 MiB body of any shape is a 4xx within a generous bound (bench has the figure)."""
    from tests import factories

    with app.app_context():
        factories.make_camera("cam1")
    admin = login_as("admin")
    for shape, body in _worst_bodies(ONE_MIB).items():
        started = time.process_time()
        resp = admin.post(path, data=body, content_type="application/json")
        spent = time.process_time() - started
        assert resp.status_code in (400, 413, 422), (shape, resp.status_code)
        assert spent < 5, f"{shape}: {spent:.1f} s of CPU"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/cameras/cam1/recording-gaps/retry-selected", b'{"gap_ids": ["\\udfff"]}'),
        ("/api/v1/embed-sessions", b'{"username": "\\udfff"}'),
        ("/api/v1/embed-sessions", b'{"username": "a\\u0000b"}'),
        ("/api/v1/cameras/cam1/recording-gaps", b'{"gap_start": "\\ud800", "gap_end": 1}'),
        ("/api/v1/cameras/cam1/recording-gaps", b'{"\\udfff": 1}'),
        ("/api/v1/cameras/cam1/recording-gaps", b'{"gap_start": "\xed\xbf\xbf"}'),
        ("/api/v1/cameras/cam1/recording-gaps", b'{"gap_start": "\xff"}'),
    ],
)
def test_text_that_is_not_text_is_400(app, login_as, path, body):
    from tests import factories

    with app.app_context():
        factories.make_camera("cam1")
    admin = login_as("admin")
    resp = admin.post(path, data=body, content_type="application/json")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.json["code"] == "invalid_characters"


def test_answers_encode_as_flasks_own_encoder_would(app):
    """orjson writes the API's answers; what it cannot write the standard encoder does, so no
    answer changes meaning: times as Flask formats them, a huge integer, a non-string key."""
    from dataclasses import dataclass
    from datetime import UTC
    from datetime import datetime

    from flask.json.provider import DefaultJSONProvider

    @dataclass
    class Point:
        x: int

    flask_own = DefaultJSONProvider(app)
    for value in (
        {"gap": "é ✓", "n": 3, "f": 0.1, "none": None, "ok": True, "nested": [1, [2, {"a": []}]]},
        {"at": datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC), "point": Point(4)},
        {"big": 2**70},  # past 64 bits: the standard encoder's answer
        {1: "integer key"},  # ditto
    ):
        with app.test_request_context():
            ours = app.json.response(value)
            theirs = flask_own.response(value)
        assert ours.mimetype == "application/json"
        assert ours.get_data().endswith(b"\n")
        assert json.loads(ours.get_data()) == json.loads(theirs.get_data())
    app.debug = True  # debug answers are indented, as Flask's are
    with app.test_request_context():
        assert app.json.response({"a": [1]}).get_data() == b'{\n  "a": [\n    1\n  ]\n}\n'
