"""A hostile camera on loopback (SPEC §17): ISAPI and Dahua answers built to hurt the worker.

``HostileCamera(mode)`` answers the ISAPI search and download and Dahua's mediaFileFind the way
its mode says; ``Elsewhere`` is a second loopback host that records who asked it and with which
headers (it challenges with Digest, so a client that follows a redirect would answer with the
camera's credentials).
"""

import functools
import gzip
import socket
import subprocess
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

MODES = (
    "gzip-bomb",  # search answer: 2 MB of gzip that unpacks to 2 GiB
    "endless-chunked",  # search answer: chunked, never ends
    "huge-plain",  # search answer: 200 MB with a Content-Length
    "redirect-search",  # search answer: 307 to the other host
    "redirect-download",  # download answer: 302 to the other host
    "manifest",  # download answer: a DASH manifest naming another camera's archive file
    "ffconcat",  # download answer: an ffconcat script naming another camera's archive file
    "hls",  # download answer: an HLS playlist naming another camera's archive file
    "secret-error",  # search answer: HTTP 500 whose body carries secrets
    "endless-download",  # download answer: bytes for ever (zeros: no media head)
    "endless-media",  # download answer: real MPEG-TS for ever (only the byte cap can end it)
    "dahua-found",  # Dahua findNextFile: found=2000000000
    "drip-search",  # search answer: one byte every half second, never ending
    "bomb-401",  # search answer: a Digest challenge whose body is the gzip bomb
)

ISAPI_NS = "http://www.isapi.org/ver20/XMLSchema"
SECRET_BODY = (
    "INTERNAL-SECRET db_password=hunter2 api_key=AKIA1234 token=tok-5678 "
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig code=c0de-9 sig=abcd signature=s1gn "
)
# "Endless" answers end after this: a client that never stops cannot keep a test running.
ENDLESS_LIMIT_S = 90.0
_BOMB_MEMBER = gzip.compress(b" " * (16 * 1024 * 1024), compresslevel=9)


@functools.cache
def _media_block() -> bytes:
    """About 1 MB of real MPEG-TS (one short clip over and over): a stream that reads as media
    for as long as it is sent, so only the download's byte cap ends it."""
    from webapp.anr.media import ffmpeg_bin

    clip = subprocess.run(
        [ffmpeg_bin(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc=size=160x120:rate=10:duration=2", "-c:v", "mpeg2video", "-f", "mpegts", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return clip * max(1, (1024 * 1024) // len(clip))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a worker hanging up mid-answer is what a bounded client does


class Elsewhere:
    """The other host: a Digest challenge to anyone without credentials, a secret to the rest."""

    def __init__(self):
        self.asked: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.asked.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers),
                     "body": body[:4000]}
                )  # fmt: skip
                if "Authorization" not in self.headers:
                    body = b"who are you"
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate",
                        'Digest realm="elsewhere", nonce="abc123", qop="auth", algorithm=MD5',
                    )
                else:
                    body = SECRET_BODY.encode()
                    self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _any

        # Another loopback address: another host as far as the worker can tell (Linux routes
        # all of 127/8 to lo).
        self.server = _Server(("127.0.0.2", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.2:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def credentials_seen(self) -> list[str]:
        """Every Authorization header the other host received."""
        return [a["headers"]["Authorization"] for a in self.asked
                if "Authorization" in a["headers"]]  # fmt: skip

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class HostileCamera:
    """A camera whose answers follow ``mode``; ``stolen`` is the other camera's file to point at."""

    def __init__(self, mode: str, elsewhere: Elsewhere, stolen: str = "", echo: str = ""):
        assert mode in MODES, mode
        self.mode = mode
        self.echo = echo  # put first in the secret-error body (e.g. the password it was sent)
        self.elsewhere = elsewhere
        self.stolen = stolen
        self.sent_bytes = 0
        self.hung_up_at: float | None = None  # monotonic time the worker closed a drip
        self.calls: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.handle(self)

            do_POST = do_GET

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # --- answers ----------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        path = h.path.split("?", 1)[0]
        self.calls.append(f"{h.command} {h.path}")
        try:
            if path == "/ISAPI/ContentMgmt/search":
                self.search(h)
            elif path == "/ISAPI/ContentMgmt/download":
                self.download(h)
            elif path == "/cgi-bin/mediaFileFind.cgi":
                self.dahua(h)
            elif path.startswith("/replay/") and self.mode == "redirect-download":
                self.download(h)  # a replay answered with the same redirect
            else:
                self.send(h, 404, b"no such API")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker hung up: what a bounded client does

    def send(self, h, status: int, body: bytes, kind: str = "text/plain", **headers) -> None:
        h.send_response(status)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.end_headers()
        h.wfile.write(body)
        self.sent_bytes += len(body)

    def search(self, h) -> None:
        mode = self.mode
        if mode in ("gzip-bomb", "bomb-401"):
            h.send_response(200 if mode == "gzip-bomb" else 401)
            if mode == "bomb-401":
                h.send_header("WWW-Authenticate", 'Digest realm="cam", nonce="n1", qop="auth"')
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(_BOMB_MEMBER) * 128))
            h.end_headers()
            for _ in range(128):  # 128 gzip members of 16 MiB each: 2 GiB unpacked
                h.wfile.write(_BOMB_MEMBER)
                self.sent_bytes += len(_BOMB_MEMBER)
        elif mode == "endless-chunked":
            h.send_response(200)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            block = b"<a>" + b"x" * (1024 * 1024) + b"</a>"
            chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
            deadline = time.monotonic() + ENDLESS_LIMIT_S
            while time.monotonic() < deadline:
                h.wfile.write(chunk)
                self.sent_bytes += len(block)
        elif mode == "drip-search":
            h.send_response(200)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            deadline = time.monotonic() + ENDLESS_LIMIT_S
            try:
                while time.monotonic() < deadline:
                    h.wfile.write(b"1\r\n \r\n")
                    h.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                self.hung_up_at = time.monotonic()
        elif mode == "huge-plain":
            size = 200 * 1024 * 1024
            h.send_response(200)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(size))
            h.end_headers()
            block = b"x" * (1024 * 1024)
            for _ in range(200):
                h.wfile.write(block)
                self.sent_bytes += len(block)
        elif mode == "redirect-search":
            h.send_response(307)
            h.send_header("Location", self.elsewhere.url + "/ISAPI/ContentMgmt/search")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif mode == "secret-error":
            self.send(h, 500, (self.echo + SECRET_BODY * 20).encode())
        else:
            self.send(h, 200, self.listing(), "application/xml")

    def listing(self) -> bytes:
        """One recording covering the last two hours: every window of the tests."""
        now = datetime.now(UTC).replace(microsecond=0)
        begin, end = now - timedelta(hours=2), now
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<CMSearchResult xmlns="{ISAPI_NS}">'
            "<responseStatusStrg>OK</responseStatusStrg><matchList><searchMatchItem>"
            f"<timeSpan><startTime>{_iso(begin)}</startTime><endTime>{_iso(end)}</endTime>"
            "</timeSpan><mediaSegmentDescriptor><playbackURI>rtsp://127.0.0.1/Streaming/tracks/"
            "101/?starttime=x</playbackURI></mediaSegmentDescriptor></searchMatchItem>"
            "</matchList></CMSearchResult>"
        ).encode()

    def download(self, h) -> None:
        mode, stolen = self.mode, self.stolen
        if mode == "redirect-download":
            h.send_response(302)
            h.send_header("Location", self.elsewhere.url + "/footage.mp4")
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif mode == "manifest":
            body = (
                '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
                'mediaPresentationDuration="PT20S" minBufferTime="PT1S" '
                'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet '
                'mimeType="video/mp4"><Representation id="1" bandwidth="100000">'
                f"<BaseURL>file://{stolen}</BaseURL></Representation></AdaptationSet></Period>"
                "</MPD>\n"
            )
            self.send(h, 200, body.encode(), "application/octet-stream")
        elif mode == "ffconcat":
            self.send(h, 200, f"ffconcat version 1.0\nfile '{stolen}'\n".encode())
        elif mode == "hls":
            body = (
                f"#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20,\nfile://{stolen}\n#EXT-X-ENDLIST\n"
            )
            self.send(h, 200, body.encode())
        elif mode in ("endless-download", "endless-media"):
            h.send_response(200)
            h.send_header("Content-Type", "video/mp4")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            block = _media_block() if mode == "endless-media" else b"\0" * (1024 * 1024)
            chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
            deadline = time.monotonic() + ENDLESS_LIMIT_S
            while time.monotonic() < deadline:
                h.wfile.write(chunk)
                self.sent_bytes += len(block)
        else:
            self.send(h, 404, b"no download")

    def dahua(self, h) -> None:
        query = h.path.split("?", 1)[1] if "?" in h.path else ""
        if "factory.create" in query:
            self.send(h, 200, b"result=3001\r\n")
        elif "action=findFile" in query:
            self.send(h, 200, b"OK\r\n")
        elif "findNextFile" in query:
            self.send(h, 200, b"found=2000000000\r\n")
        else:
            self.send(h, 200, b"OK\r\n")


class RtspHost:
    """A minimal RTSP server: answers every request with a redirect to ``redirect_to`` or, as
    the other host, with a Digest challenge; ``asked`` keeps every request's text."""

    def __init__(self, host: str, redirect_to: str = ""):
        self.redirect_to = redirect_to
        self.asked: list[str] = []
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"rtsp://{host}:{self.port}"
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            conn.settimeout(10)
            try:
                while chunk := conn.recv(4096):
                    data += chunk
                    while b"\r\n\r\n" in data:
                        head, data = data.split(b"\r\n\r\n", 1)
                        request = head.decode("latin-1")
                        self.asked.append(request)
                        cseq = next((line.split(":", 1)[1].strip() for line in
                                     request.split("\r\n") if line.lower().startswith("cseq")),
                                    "1")  # fmt: skip
                        if self.redirect_to:
                            answer = f"RTSP/1.0 302 Moved\r\nCSeq: {cseq}\r\nLocation: "
                            answer += f"{self.redirect_to}\r\n\r\n"
                        else:
                            answer = (
                                f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
                                'WWW-Authenticate: Digest realm="elsewhere", nonce="abc123"\r\n\r\n'
                            )
                        conn.sendall(answer.encode())
            except OSError:
                return

    def credentials_seen(self) -> list[str]:
        """The requests that carried an Authorization header."""
        return [r for r in self.asked if "authorization:" in r.lower()]

    def stop(self) -> None:
        self._closing = True
        self.sock.close()
