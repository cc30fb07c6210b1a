"""No camera credential in any log line, last_error, page or JSON, whatever the fill did."""

from urllib.parse import quote

from tests import factories
from tests.anr.conftest import CAMERA_PASSWORD
from tests.anr.conftest import gap_now
from tests.anr.conftest import recent
from tests.anr.conftest import run_worker
from tests.anr.conftest import sim_camera

FORMS = (CAMERA_PASSWORD, quote(CAMERA_PASSWORD, safe=""))


def test_camera_password_never_shows(anr_app, simcam, login_as, caplog, capfd):
    caplog.set_level("DEBUG")
    manager = login_as("manager")
    with anr_app.app_context():
        for cam, mode in (("refuses", "fail"), ("stalls", "stall"), ("short", "short")):
            sim_camera(simcam, cam)
            simcam.set(cam, mode)
        sim_camera(simcam, "good")
        gaps = [
            factories.make_gap(cam, recent(), seconds=6).id
            for cam in ("refuses", "stalls", "short", "good")
        ]

        run_worker(anr_app)

        errors = [gap_now(gap_id).last_error or "" for gap_id in gaps]
    # The refusing camera's error quotes the replay URL: with its user-info masked.
    assert "http://***@127.0.0.1" in errors[0]
    pages = []
    for cam in ("refuses", "stalls", "short", "good"):
        pages.append(manager.get(f"/api/v1/cameras/{cam}/recording-gaps").get_data(as_text=True))
        pages.append(manager.get(f"/cameras/{cam}/gaps").get_data(as_text=True))
    pages.append(manager.get("/api/v1/cameras").get_data(as_text=True))
    out, err = capfd.readouterr()
    seen = "\n".join([caplog.text, out, err, *errors, *pages])
    assert "fetching 6 s from http://***@127.0.0.1" in caplog.text  # URLs are logged masked
    for form in FORMS:
        assert form not in seen
