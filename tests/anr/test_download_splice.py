"""A download bigger than a chunk moves from the camera's socket to the cut's pipe in the kernel
(``os.splice``, issue #22), under the same bounds as bytes read in Python: the head judged
first, the byte cap, Stop, and a camera that stops short or goes silent."""

import os
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from webapp.anr.vendors import base
from webapp.anr.vendors.base import DownloadStopped
from webapp.anr.vendors.base import Refused
from webapp.anr.vendors.base import VendorClient
from webapp.anr.vendors.base import VendorError

pytestmark = pytest.mark.skipif(not hasattr(os, "splice"), reason="os.splice is Linux only")

SIZE = 5 * 1024 * 1024 + 123  # five chunks and a ragged end


BODY = os.urandom(SIZE)


class Camera:
    """A loopback download endpoint: ``mode`` whole, ``short`` (closes at 2 MB of what it
    declared) or ``stall`` (2 MB, then silence); ``declared`` overrides Content-Length."""

    def __init__(self, mode: str = "whole", declared: int | None = None, body: bytes = BODY):
        self.mode, self.declared, self.body = mode, declared, body
        self.release = threading.Event()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(camera.declared or len(camera.body)))
                self.end_headers()
                if camera.mode == "whole":
                    self.wfile.write(camera.body)
                    return
                self.wfile.write(camera.body[: 2 * 1024 * 1024])
                self.wfile.flush()
                if camera.mode == "stall":
                    camera.release.wait(10)
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def camera_with():
    made: list[Camera] = []

    def make(**kw) -> Camera:
        made.append(Camera(**kw))
        return made[-1]

    yield make
    for cam in made:
        cam.stop()


def _pump(url: str, timeout_s: float = 5.0, feed=None, got: bytearray | None = None, **kw):
    """Pump the answer into a real pipe as the cut's does; (bytes, what went through Python,
    what the pipe's reader got, splice calls)."""
    client = VendorClient(url, "user", "pass", timeout_s=timeout_s)
    read, write = os.pipe()
    got = bytearray() if got is None else got  # what the pipe's reader (the cut) received

    def drain():
        with open(read, "rb") as pipe_in:
            while piece := pipe_in.read(65536):
                got.extend(piece)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    through_python = bytearray()
    calls = []
    real_splice = os.splice

    def counted(*args, **kwargs):
        calls.append(args[2])
        return real_splice(*args, **kwargs)

    try:
        with open(write, "wb") as out:
            judge = feed(out) if feed else out  # the cut's own head check, when given

            def write_out(chunk: bytes) -> None:
                through_python.extend(chunk)
                judge.write(chunk)

            response = client.session.get(url + "/download", stream=True, timeout=timeout_s)
            os.splice = counted
            try:
                n = client.pump(response, write_out, pipe=out, **kw)
            finally:
                os.splice = real_splice
    finally:
        reader.join(10)
        client.close()
    return n, bytes(through_python), bytes(got), calls


def test_a_large_download_is_spliced_whole_after_its_head(camera_with):
    cam = camera_with()
    n, through_python, got, calls = _pump(cam.url)
    assert n == SIZE
    assert got == BODY
    # Only the head (and what http.client had buffered) passed through Python.
    assert len(through_python) <= base.SPLICE_HEAD + 64 * 1024
    assert through_python == BODY[: len(through_python)]
    assert calls and max(calls) <= base.SPLICE_STEP


def test_a_declared_length_over_the_cap_is_refused_before_a_byte(camera_with):
    cam = camera_with()
    with pytest.raises(Refused, match="more than 4000000 bytes"):
        _pump(cam.url, max_bytes=4_000_000)


def test_a_camera_that_closes_early_broke_off(camera_with):
    cam = camera_with(mode="short")
    with pytest.raises(VendorError, match=r"broke off after \d+ bytes"):
        _pump(cam.url)


def test_a_silent_camera_times_out_mid_splice(camera_with):
    cam = camera_with(mode="stall")
    began = time.monotonic()
    with pytest.raises(VendorError, match=r"broke off after 2097152 bytes .*no bytes for 1 s"):
        _pump(cam.url, timeout_s=1.0)
    assert time.monotonic() - began < 8


def test_stop_ends_a_spliced_download(camera_with):
    cam = camera_with(mode="stall")
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    began = time.monotonic()
    with pytest.raises(DownloadStopped):  # seen while waiting on the silent camera
        _pump(cam.url, timeout_s=10.0, stop=stop)
    assert time.monotonic() - began < 3


def test_a_large_manifest_is_refused_before_the_pipe_sees_a_byte(camera_with):
    """The spliced path judges the head as the Python path does: an ffconcat script padded past
    a chunk (so it would be spliced) naming another camera's file never reaches ffmpeg."""
    from webapp.anr.download import _Feed

    script = b"ffconcat version 1.0\nfile '/srv/archive/other-camera/20260101_000000.mp4'\n"
    cam = camera_with(body=script + b"#" * (3 * 1024 * 1024))
    got = bytearray()
    with pytest.raises(Refused, match="an ffconcat script"):
        _pump(cam.url, feed=_Feed, got=got)
    assert bytes(got) == b""  # not one byte of the script went down the pipe
