"""Flask-WTF form classes of the pages; CSRF is checked app-wide in one request hook.

The forms turn posted text into values and say what is wrong per field; the rules about those
values (what window may be queued, what a camera may hold) stay in ``webapp/domain``.
"""

from datetime import UTC
from datetime import tzinfo

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import Field
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms import ValidationError
from wtforms.widgets import TextInput

from ..domain import cameras
from ..domain.times import parse_time
from ..domain.times import skipped_local_time
from ..models import Camera


class _NoCsrfForm(FlaskForm):
    class Meta:
        # The app checks CSRF once for every session-cookie write (webapp/__init__.py).
        csrf = False


class LocalTimeField(Field):
    """A ``datetime-local`` (or any ISO 8601) time read in the form's zone, held as UTC."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, missing="enter a time", _form=None, **kwargs):
        super().__init__(label, validators, _form=_form, **kwargs)
        self.owner = _form  # the form's ``zone`` reads naive times
        self.missing = missing
        self.raw = ""

    def process_formdata(self, valuelist):
        self.raw = (valuelist[0] if valuelist else "") or ""
        in_zone = getattr(self.owner, "zone", UTC)
        skipped = skipped_local_time(self.raw, in_zone)
        if skipped:
            self.data = None
            raise ValueError(skipped)
        self.data = parse_time(self.raw, naive_zone=in_zone)
        if self.data is None:
            raise ValueError(self.missing)

    def _value(self) -> str:
        return self.raw


# The window rules of webapp/domain/gap_actions.py in the form's own words (its labels are
# "From" and "To"; the API's field names never reach an operator).
WINDOW_WORDS = {
    "start_missing": "enter when the window starts, as 2026-06-13 14:05:00 (24-hour, camera time)",
    "end_missing": "enter when the window ends, as 2026-06-13 14:35:00 (24-hour, camera time)",
    "end_not_after_start": "“To” must be later than “From”",
    "too_long": "a window can be at most 31 days long",
    "start_in_future": "“From” is in the future: only footage already recorded can be retrieved",
}
# The domain's field names -> this form's fields.
WINDOW_FIELDS = {"gap_start": "start", "gap_end": "end"}


class WindowForm(_NoCsrfForm):
    """The camera page's "Retrieve a chosen window": start and end in the camera's zone."""

    start = LocalTimeField(missing=WINDOW_WORDS["start_missing"])
    end = LocalTimeField(missing=WINDOW_WORDS["end_missing"])
    # Set by the "Queue anyway" button after the warning that the window is already recorded.
    anyway = HiddenField()

    def __init__(self, zone: tzinfo, **kwargs):
        self.zone = zone
        super().__init__(**kwargs)

    def first_errors(self) -> dict[str, str]:
        """One message per field that has one, for the template."""
        return {name: field.errors[0] for name, field in self._fields.items() if field.errors}


class AuditFilterForm(_NoCsrfForm):
    """The audit page's filters (a GET form): camera, action, actor and a time range."""

    camera = StringField(filters=[lambda v: (v or "").strip()[:64]])
    action = StringField(filters=[lambda v: (v or "").strip()[:64]])
    actor = StringField(filters=[lambda v: (v or "").strip()[:200]])
    since = StringField(filters=[lambda v: (v or "").strip()[:40]])
    until = StringField(filters=[lambda v: (v or "").strip()[:40]])

    def values(self) -> dict[str, str]:
        """The cleaned filters as the page's links carry them."""
        return {name: field.data for name, field in self._fields.items()}


class LoginForm(_NoCsrfForm):
    """Sign-in: username, password and where to go afterwards (checked by ``safe_next``)."""

    username = StringField()
    password = PasswordField()
    next = HiddenField()


def _domain_check(name: str):
    """A validator that runs the camera setting's rule in webapp/domain/cameras.py (one place,
    shared with the CLI) and keeps the clean value it returns as the field's data."""
    check = cameras.CHECKS[name]

    def validator(form, field) -> None:
        try:
            field.data = check(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    return validator


def _setting(name: str) -> StringField:
    return StringField(validators=[_domain_check(name)])


class CameraForm(_NoCsrfForm):
    """The admin camera form (create and edit): every setting checked, the clean values kept.

    The rules across fields and against the stored camera (an unchanged masked template or a
    blank password keeps the stored credential, user-info typed into the template is refused)
    are ``cameras.finish``, which the CLI runs too.
    """

    id = _setting("id")
    name = _setting("name")
    site = _setting("site")
    timezone = _setting("timezone")
    vendor = _setting("vendor")
    address = _setting("address")
    rtsp_port = _setting("rtsp_port")
    http_port = _setting("http_port")
    channel = _setting("channel")
    username = _setting("username")
    password = PasswordField()
    enabled = BooleanField()
    anr_enabled = BooleanField()
    anr_replay_url_template = _setting("anr_replay_url_template")
    replay_clock = _setting("replay_clock")
    fill_method = _setting("fill_method")
    fill_window = _setting("fill_window")
    anr_max_gap_hours = _setting("anr_max_gap_hours")
    segment_seconds = _setting("segment_seconds")
    max_kbps = _setting("max_kbps")

    def __init__(self, current: Camera | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current = current
        if current is not None:
            del self.id  # a camera's id never changes
        self.clean: dict = {}

    def validate(self, extra_validators=None) -> bool:
        """Check every field, then the rules across fields; ``clean`` holds the values to save."""
        super().validate(extra_validators)
        clean = {name: field.data for name, field in self._fields.items() if not field.errors}
        problems = cameras.finish(clean, creating=self.current is None, current=self.current)
        for name, problem in problems.items():
            if not self[name].errors:
                self[name].errors.append(problem)
        self.clean = clean
        return not self.first_errors()

    def first_errors(self) -> dict[str, str]:
        """One message per field that has one, for the template."""
        return {name: field.errors[0] for name, field in self._fields.items() if field.errors}

    def submitted(self) -> dict:
        """What was typed, to show again with the errors (never the password)."""
        return {
            name: field.data if isinstance(field, BooleanField) else (field.raw_data or [""])[0]
            for name, field in self._fields.items()
            if name != "password"
        }
