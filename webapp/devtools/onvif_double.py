"""A minimal ONVIF device double: SOAP over loopback HTTP, answered with the real shapes.

It answers ``GetServices`` (device service), ``GetRecordingSummary``, ``FindRecordings``,
``GetRecordingSearchResults`` and ``GetRecordingInformation`` (search service) and
``GetReplayUri`` (replay service), in the element shapes of the ONVIF WSDLs onvif-zeep-async
ships (search.wsdl, replay.wsdl, onvif.xsd); it checks the WS-Security UsernameToken digest the
real client sends, and faults anything else.
"""

import base64
import functools
import hashlib
import threading
import zlib
from datetime import UTC
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

from ..anr.vendors import xmlsafe

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP}" '
        'xmlns:tt="http://www.onvif.org/ver10/schema" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
        'xmlns:tse="http://www.onvif.org/ver10/search/wsdl" '
        'xmlns:trp="http://www.onvif.org/ver10/replay/wsdl" '
        'xmlns:ter="http://www.onvif.org/ver10/error">'
        f"<SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


def _fault(code: str, reason: str) -> bytes:
    return _envelope(
        "<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>"
        f"<SOAP-ENV:Subcode><SOAP-ENV:Value>{code}</SOAP-ENV:Value></SOAP-ENV:Subcode>"
        f'</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">{reason}'
        "</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>"
    )


@functools.cache
def gzip_bomb() -> bytes:
    """256 MiB of zeros as one gzip member (about 250 kB): 64 times the camera cap."""
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(out.compress(block) for _ in range(256)) + out.flush()


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OnvifDouble:
    """``start()`` serves on 127.0.0.1 (an OS-chosen port); ``data_from``/``data_until`` set
    the recording summary (``data_from`` None: no recordings)."""

    def __init__(self, username: str, password: str):
        self.username = username
        self.password = password
        self.data_from: datetime | None = None
        self.data_until: datetime | None = None
        self.replay_uri = "rtsp://127.0.0.1:554/replay"  # what GetReplayUri answers
        self.service_host = "127.0.0.1"  # the host of the XAddrs GetServices answers
        self.calls: list[str] = []
        self.search_base: str | None = None  # where the search service is said to be (SPEC §17)
        # A hostile answer to GetRecordingSummary: "gzip-bomb", "endless" or "redirect" (to
        # ``redirect_to``); None answers as a camera should.
        self.hostile: str | None = None
        self.redirect_to = ""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> "OnvifDouble":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def authorized(self, root) -> bool:
        header = xmlsafe.child(root, "Header")
        token = xmlsafe.child(xmlsafe.child(header, "Security"), "UsernameToken")
        if token is None or xmlsafe.text(token, "Username") != self.username:
            return False
        nonce = base64.b64decode(xmlsafe.text(token, "Nonce") or "")
        created = xmlsafe.text(token, "Created")
        digest = hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()
        return base64.b64encode(digest).decode() == xmlsafe.text(token, "Password")

    def answer(self, path: str, request: str) -> bytes:
        base = f"http://{self.service_host}:{self.port}/onvif"
        if path.endswith("device_service") and request == "GetServices":
            services = "".join(
                f"<tds:Service><tds:Namespace>http://www.onvif.org/ver10/{ns}/wsdl"
                f"</tds:Namespace><tds:XAddr>{where}/{name}</tds:XAddr><tds:Version>"
                "<tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
                for ns, name, where in (
                    ("device", "device_service", base),
                    ("search", "search_service", self.search_base or base),
                    ("replay", "replay_service", base),
                )
            )
            return _envelope(f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>")
        if path.endswith("search_service") and request == "GetRecordingSummary":
            if self.data_from is None:
                summary = (
                    "<tt:DataFrom>1970-01-01T00:00:00Z</tt:DataFrom>"
                    "<tt:DataUntil>1970-01-01T00:00:00Z</tt:DataUntil>"
                    "<tt:NumberRecordings>0</tt:NumberRecordings>"
                )
            else:
                until = self.data_until or datetime.now(UTC)
                summary = (
                    f"<tt:DataFrom>{_iso(self.data_from)}</tt:DataFrom>"
                    f"<tt:DataUntil>{_iso(until)}</tt:DataUntil>"
                    "<tt:NumberRecordings>1</tt:NumberRecordings>"
                )
            return _envelope(
                f"<tse:GetRecordingSummaryResponse><tse:Summary>{summary}</tse:Summary>"
                "</tse:GetRecordingSummaryResponse>"
            )
        if path.endswith("search_service") and request == "FindRecordings":
            body = "<tse:SearchToken>search-1</tse:SearchToken>"
            return _envelope(f"<tse:FindRecordingsResponse>{body}</tse:FindRecordingsResponse>")
        if path.endswith("search_service") and request == "GetRecordingSearchResults":
            found = self._information("tt") if self.data_from is not None else ""
            return _envelope(
                "<tse:GetRecordingSearchResultsResponse><tse:ResultList>"
                f"<tt:SearchState>Completed</tt:SearchState>{found}"
                "</tse:ResultList></tse:GetRecordingSearchResultsResponse>"
            )
        if path.endswith("search_service") and request == "GetRecordingInformation":
            if self.data_from is None:
                return b""
            info = self._information("tse")
            return _envelope(
                f"<tse:GetRecordingInformationResponse>{info}</tse:GetRecordingInformationResponse>"
            )
        if path.endswith("replay_service") and request == "GetReplayUri":
            return _envelope(
                f"<trp:GetReplayUriResponse><trp:Uri>{self.replay_uri}</trp:Uri>"
                "</trp:GetReplayUriResponse>"
            )
        return b""

    def _information(self, prefix: str) -> str:
        """One tt:RecordingInformation (element ``prefix:RecordingInformation``)."""
        assert self.data_from is not None
        until = _iso(self.data_until or datetime.now(UTC))
        return (
            f"<{prefix}:RecordingInformation><tt:RecordingToken>rec-1</tt:RecordingToken>"
            "<tt:Source><tt:SourceId>cam</tt:SourceId><tt:Name>cam</tt:Name>"
            "<tt:Location>here</tt:Location><tt:Description>cam</tt:Description>"
            "<tt:Address>http://127.0.0.1/</tt:Address></tt:Source>"
            f"<tt:EarliestRecording>{_iso(self.data_from)}</tt:EarliestRecording>"
            f"<tt:LatestRecording>{until}</tt:LatestRecording>"
            "<tt:Content>card</tt:Content><tt:RecordingStatus>Recording</tt:RecordingStatus>"
            f"</{prefix}:RecordingInformation>"
        )


def _handler(double: OnvifDouble):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _hostile(self, mode: str) -> None:
            """What a hostile camera sends instead of its summary (bounded on this side too)."""
            if mode == "redirect":
                self.send_response(307)
                self.send_header("Location", double.redirect_to + "/onvif/search_service")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            if mode == "gzip-bomb":
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(gzip_bomb())))
                self.end_headers()
                try:
                    self.wfile.write(gzip_bomb())
                except OSError:
                    pass  # the client hung up at its cap, as it should
                return
            self.send_header("Transfer-Encoding", "chunked")  # endless: stops at 1 GiB at most
            self.end_headers()
            piece = b"<a>" + b"x" * 65_530 + b"</a>"
            try:
                for _ in range(16_384):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:
                pass  # the client hung up, as it should

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            root = xmlsafe.parse(raw)
            body = xmlsafe.child(root, "Body")
            request = xmlsafe.local(body[0].tag) if body is not None and len(body) else ""
            double.calls.append(request)
            if not double.authorized(root):
                return self._send(400, _fault("ter:NotAuthorized", "Sender not authorized"))
            if double.hostile and request == "GetRecordingSummary":
                return self._hostile(double.hostile)
            answer = double.answer(self.path, request)
            if not answer:
                return self._send(400, _fault("ter:ActionNotSupported", "not supported"))
            return self._send(200, answer)

    return Handler
