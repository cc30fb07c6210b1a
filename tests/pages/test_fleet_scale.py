"""The fleet page at 10,000 cameras: 100 a page, attention first, search, site, cursors."""

import re

from tests.api.test_fleet_ops import _fleet_order
from tests.api.test_fleet_ops import bulk_fleet

HX = {"HX-Request": "true", "HX-Target": "fleet"}


def _ids(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/cameras/(cam\d+)/gaps">', html)


def _link(html: str, words: str) -> str:
    match = re.search(rf'<a class="button" href="([^"]+)"[^>]*>[^<]*{words}', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_fleet_page_of_10000_cameras(db, login_as):
    expected = bulk_fleet(10_000)
    order = _fleet_order(expected)
    viewer = login_as("viewer")

    first = viewer.get("/cameras").get_data(as_text=True)
    assert _ids(first) == order[:100]
    assert "10000</b> cameras" in first
    needing = sum(1 for a in expected.values() if a)
    assert f"{needing}</b> need attention" in first
    assert "needs attention" in first.split("<tbody>")[1].split("</tr>")[0]  # first row
    assert _link(first, "Previous") is None

    second = viewer.get(_link(first, "Next"), headers=HX).get_data(as_text=True)
    assert "<html" not in second and _ids(second) == order[100:200]
    back = viewer.get(_link(second, "Previous"), headers=HX).get_data(as_text=True)
    assert _ids(back) == order[:100]

    found = viewer.get("/cameras?q=camera+00424").get_data(as_text=True)
    assert _ids(found) == ["cam00424"] and 'value="camera 00424"' in found
    site = viewer.get("/cameras?site=Site+07&attention=1").get_data(as_text=True)
    ids = _ids(site)
    assert ids and all(int(c[3:]) % 25 == 7 and expected[c] for c in ids)
    assert '<option value="Site 07" selected>' in site
    # The refresh keeps the search, the site and the page.
    assert 'hx-get="/cameras?site=Site+07&amp;attention=1"' in site
    missing = viewer.get("/cameras?q=nothing-like-this").get_data(as_text=True)
    assert "No camera matches “nothing-like-this”." in missing


def test_fleet_page_bad_input_is_400(db, login_as):
    viewer = login_as("viewer")
    assert viewer.get("/cameras?before=not-a-cursor").status_code == 400
    assert viewer.get("/cameras?attention=perhaps").status_code == 400
