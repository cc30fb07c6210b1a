"""SPEC §17: what a camera says is shown masked and short everywhere, and the fill history is
exact (the method that ran, bytes of every chunk; a dead worker's run closed as ``lost`` is in
test_worker_process.py)."""

import base64
import logging
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests import factories
from tests.anr.conftest import CAMERA_PASSWORD
from tests.anr.conftest import CAMERA_USER
from tests.anr.conftest import FAST_ENGINE
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera
from tests.anr.hostile import Elsewhere
from tests.anr.hostile import HostileCamera
from tests.anr.test_webhooks import Receiver
from webapp.anr.webhooks import Sender
from webapp.devtools.simcam import SimCam
from webapp.domain import alerts
from webapp.extensions import db
from webapp.masking import camera_text
from webapp.masking import secret_forms
from webapp.models import FillRun

BASIC = base64.b64encode(f"{CAMERA_USER}:{CAMERA_PASSWORD}".encode()).decode()
# The camera's password as a hostile camera may echo it: plain, URL-encoded, base64.
ECHO = f"you sent {CAMERA_PASSWORD} as {quote(CAMERA_PASSWORD, safe='')} or Basic-{BASIC} "
SECRETS = ("hunter2", "AKIA1234", "tok-5678", "eyJhbGciOiJIUzI1NiJ9", "c0de-9", "s1gn")
HOOK_TOKEN = "x8Yh2kQ9mN3pL5rT7vW1zA4b"


@pytest.fixture
def receiver():
    hook = Receiver([500] * 20)
    yield hook
    hook.close()


def _shown_nowhere(text: str) -> None:
    for secret in (*SECRETS, CAMERA_PASSWORD, quote(CAMERA_PASSWORD, safe=""), BASIC):
        assert secret not in text, secret


def test_a_camera_error_body_is_masked_and_cut_everywhere_it_is_read(
    make_app, login_as, receiver, caplog
):
    elsewhere = Elsewhere()
    cam = HostileCamera("secret-error", elsewhere, echo=ECHO)
    app = make_app(**{**FAST_ENGINE, "ANR_MAX_ATTEMPTS": 1}, ANR_WEBHOOK_URLS=receiver.url)
    try:
        with app.app_context():
            factories.make_camera(
                "cam1", vendor="hikvision", address="127.0.0.1", http_port=cam.port,
                anr_enabled=True, fill_method="download", username=CAMERA_USER,
                password=CAMERA_PASSWORD,
            )  # fmt: skip
            gap = factories.make_gap("cam1", recent(), seconds=20)
            with caplog.at_level(logging.INFO):
                run_worker(app)
            gap = gap_now(gap.id)
            run = FillRun.query.one()
            assert gap.fill_state == "failed"
            assert "HTTP 500" in gap.last_error and len(gap.last_error) <= 300
            assert run.error == gap.last_error
            for text in (gap.last_error, run.error, caplog.text):
                _shown_nowhere(text)
    finally:
        cam.stop()
        elsewhere.stop()
    viewer = login_as("admin")
    for url in (
        "/queue",
        "/cameras/cam1/gaps",
        f"/cameras/cam1/gaps/{gap.id}/history",
        "/api/v1/cameras/cam1/recording-gaps",
    ):
        page = viewer.get(url)
        assert page.status_code == 200, url
        _shown_nowhere(page.get_data(as_text=True))
    assert receiver.calls, "the failure alert went out"
    for body, _headers in receiver.calls:
        _shown_nowhere(body.decode())


def test_webhook_urls_are_masked_on_pages_and_in_logs(make_app, login_as, receiver, caplog):
    port = receiver.url.split(":")[2].split("/")[0]
    slack = f"http://127.0.0.1:{port}/services/T0AB12CD/B0CD34EF/{HOOK_TOKEN}"
    keyed = f"http://127.0.0.1:{port}/hook?api_key=AKIA1234&code=c0de-9"
    app = make_app(ANR_WEBHOOK_URLS=f"{slack} {keyed}")
    with app.app_context():
        alerts.enqueue("recording_gap.failed", {"gap": {"id": "g1"}})
        db.session.commit()
        sender = Sender(app)
        with caplog.at_level(logging.INFO):
            assert sender.send_next(slack) and sender.send_next(keyed)
    html = login_as("admin").get("/admin/cameras").get_data(as_text=True)
    assert "/services/T0AB12CD/B0CD34EF/***" in html  # the receiver is there, its token is not
    for text in (html, caplog.text):
        assert HOOK_TOKEN not in text
        assert "AKIA1234" not in text and "c0de-9" not in text


def test_fill_history_counts_every_chunk_of_a_replay(anr_app, anr_db, simcam):
    sim_camera(simcam)
    simcam.set("cam1", "ok", speed=0.0)
    anr_app.config["ANR_CHUNK_SECONDS"] = 4
    gap = factories.make_gap("cam1", recent(), seconds=10)

    run_worker(anr_app)

    assert gap_now(gap.id).fill_state == "filled"
    run = anr_db.session.execute(select(FillRun)).scalar_one()
    folder = Path(anr_app.config["ANR_RECORDINGS_DIR"]) / "cam1"
    files = sorted(folder.glob("*.mp4"))
    assert len(files) == 3  # 4 + 4 + 2 s
    assert run.method == "replay"
    assert run.bytes_written == sum(p.stat().st_size for p in files)


def test_fill_history_names_a_download_as_download(anr_app, anr_db):
    cam = SimCam("127.0.0.1", 0, credentials=(CAMERA_USER, CAMERA_PASSWORD), block_seconds=60)
    cam.start()
    try:
        cam.vendor.set_card(1, timezone="UTC")
        port = int(cam.url.rsplit(":", 1)[1])
        sim_camera(cam, vendor="hikvision", http_port=port, fill_method="download")
        gap = factories.make_gap("cam1", recent(20).replace(second=0), seconds=20)
        run_worker(anr_app)
    finally:
        cam.stop()
    assert gap_now(gap.id).fill_state == "filled", gap_now(gap.id).last_error
    run = anr_db.session.execute(select(FillRun)).scalar_one()
    path = (
        Path(anr_app.config["ANR_RECORDINGS_DIR"])
        / "cam1"
        / gap.gap_start.strftime("%Y%m%d_%H%M%S.mp4")
    )
    assert (run.method, run.bytes_written) == ("download", path.stat().st_size)
    # The evidence manifest's "masked source": the download API it came from, no password.
    assert run.source.startswith("hikvision download http://127.0.0.1:")
    assert CAMERA_PASSWORD not in run.source


@pytest.mark.parametrize(
    ("said", "hidden"),
    [
        ("error db_password=hunter2 at line 3", "hunter2"),
        ("passwd: hunter2", "hunter2"),
        ("GET /x?api_key=AKIA1234&a=1", "AKIA1234"),
        ('{"access_token": "tok-5678"}', "tok-5678"),
        ("client_secret=s3cr3tv4lue", "s3cr3tv4lue"),
        ("https://h/cb?code=c0de-9&state=1", "c0de-9"),
        ("X-Signature: s1gn-abc", "s1gn-abc"),
        ("https://h/f?sig=abcd1234", "abcd1234"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "Bearer eyJhbGciOiJIUzI1NiJ9"),
        ("sent bearer eyJhbGciOiJIUzI1NiJ9.x.y back", "eyJhbGciOiJIUzI1NiJ9"),
        (f"https://hooks.slack.com/services/T0AB12CD/B0CD34EF/{HOOK_TOKEN}", HOOK_TOKEN),
        (f"echo {CAMERA_PASSWORD}", CAMERA_PASSWORD),
        (f"echo {quote(CAMERA_PASSWORD, safe='')}", quote(CAMERA_PASSWORD, safe="")),
        (f"echo {base64.b64encode(CAMERA_PASSWORD.encode()).decode()}", "WnE3OnMzY3JAdC9wdw"),
        (f"Basic {BASIC}", BASIC),
    ],
)
def test_camera_text_masks_every_kind_of_secret_and_keeps_the_rest(said, hidden):
    shown = camera_text(said, tuple(secret_forms(CAMERA_PASSWORD, CAMERA_USER)))
    assert hidden not in shown and "***" in shown
    assert said[: said.index(hidden)].rstrip('"') in shown  # what comes before it is kept


def test_camera_text_is_cut_to_300_characters():
    shown = camera_text("x" * 5000)
    assert len(shown) == 300 and shown.endswith("…")
