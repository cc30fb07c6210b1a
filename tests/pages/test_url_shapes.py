"""The cached URL shapes write what url_for writes, path parts and query values alike."""

import pytest
from flask import url_for

from webapp.pages.presenters import UrlFiller
from webapp.pages.presenters import cached_url_for

AWKWARD = ["cam-1", "a b", "x:y/z", "ä&=?#", "x__gap_id__", "2026-12-02T13:12", "a+b"]


@pytest.mark.parametrize("value", AWKWARD)
def test_cached_url_for_writes_what_url_for_writes(app, value):
    with app.test_request_context("/"):
        for values in (
            {"camera_id": value},
            {"camera_id": "cam", "state": value},
            {"camera_id": value, "state": "failed", "range": "24h", "end": value, "before": None},
        ):
            expected = url_for("gaps.camera_gaps", **values)
            assert cached_url_for("gaps.camera_gaps", **values) == expected


@pytest.mark.parametrize("value", AWKWARD)
def test_a_url_filler_writes_what_url_for_writes(app, value):
    with app.test_request_context("/"):
        by_camera = UrlFiller("gaps.camera_gaps", "camera_id", state="failed")
        assert by_camera(value) == url_for("gaps.camera_gaps", state="failed", camera_id=value)
        by_end = UrlFiller("gaps.camera_gaps", "end", camera_id="cam", range="24h")
        assert by_end(value) == url_for("gaps.camera_gaps", camera_id="cam", range="24h", end=value)
