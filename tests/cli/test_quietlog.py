"""``make run``'s access log leaves the pages' polling out and keeps what a person did."""

from webapp.plumbing.quietlog import is_poll


def htmx_get(trigger, target):
    return {
        "REQUEST_METHOD": "GET",
        "HTTP_HX_REQUEST": "true",
        "HTTP_HX_TRIGGER": trigger,
        "HTTP_HX_TARGET": target,
    }


def test_a_view_refreshing_itself_is_a_poll():
    assert is_poll(htmx_get("gap-view", "gap-view"))
    assert is_poll(htmx_get("fleet", "fleet"))


def test_what_a_person_did_is_logged():
    assert not is_poll(htmx_get("tab-failed", "gap-panel"))  # a tab
    assert not is_poll({**htmx_get("gap-view", "gap-view"), "REQUEST_METHOD": "POST"})
    assert not is_poll({"REQUEST_METHOD": "GET"})  # a page load
    assert not is_poll(htmx_get(None, None))
