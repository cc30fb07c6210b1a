"""Sign-in and sign-out pages."""

import secrets
from urllib.parse import urlsplit

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_login import logout_user
from sqlalchemy import select

from ..domain import throttle
from ..domain.audit import SYSTEM
from ..domain.audit import record
from ..extensions import db
from ..models import User
from ..models import utcnow
from ..pages.forms import LoginForm
from ..plumbing.sessions import begin
from . import bp
from .devices import known_device
from .devices import remember_device
from .unauthorized import lost_action

FAILED = "Wrong username or password."
THROTTLED = "Too many failed sign-ins from here. Try again in {seconds} seconds."


def safe_next(target: str | None) -> str | None:
    """Return ``target`` only when it is a relative path on this site, else None.

    Refuses absolute and scheme-relative URLs (``//evil``), backslash tricks and control chars.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.get("/login")
def login_form():
    """Show the sign-in form (or go on when already signed in)."""
    if current_user.is_authenticated and not getattr(current_user, "token_sha256", None):
        return redirect(safe_next(request.args.get("next")) or url_for("gaps.fleet"))
    return render_template(
        "auth/login.html",
        next=safe_next(request.args.get("next")),
        lost=lost_action(request.args.get("lost")),
    )


@bp.post("/login")
def login():
    """Reserve an attempt (throttle), check the password, rotate the session and sign in."""
    form = LoginForm()
    username = form.username.data or ""
    password = form.password.data or ""
    next_url = safe_next(form.next.data)
    lost = lost_action(request.form.get("lost"))
    norm = User.normalise(username)[:150]
    if not norm or not password:
        return _refuse("Enter your username and password.", username, next_url)
    address = request.remote_addr or "unknown"
    device = known_device(norm)
    try:
        newly_limited = throttle.reserve_attempt(norm, address, device)
    except throttle.Throttled as exc:
        resp = _refuse(THROTTLED.format(seconds=exc.retry_after), username, next_url, status=429)
        return resp[0], resp[1], {"Retry-After": str(exc.retry_after)}
    user = db.session.execute(select(User).where(User.username == norm)).scalar_one_or_none()
    # The password is checked before anything else about the user, unknown ones included, so
    # every refusal costs the same time.
    right = throttle.check_password(user, password)
    if user is None or not right or not user.active:
        if newly_limited:
            record(
                "login_throttled",
                "user",
                user.id if user else None,
                detail={"username": norm, "address": address},
                actor=SYSTEM,  # nobody is signed in
            )
            db.session.commit()
        return _refuse(FAILED, username, next_url)
    throttle.clear_after_success(norm, address, device)
    # Rotation: nothing of the pre-sign-in session survives, and a fresh nonce makes the
    # signed cookie new even for a user signing in twice.
    session.clear()
    begin()
    session["nonce"] = secrets.token_urlsafe(16)
    user.last_login_at = utcnow()
    db.session.commit()
    login_user(user)
    if lost:
        flash(f"Your {lost} was not done: your session had ended. Do it again if still needed.")
    resp = redirect(next_url or url_for("gaps.fleet"))
    remember_device(resp, norm, device)
    return resp


def _refuse(message: str, username: str, next_url: str | None, status: int = 401):
    return render_template(
        "auth/login.html",
        error=message,
        username=username,
        next=next_url,
        lost=lost_action(request.form.get("lost")),
    ), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out; the epoch bump invalidates every copy of this user's session cookies."""
    user = current_user._get_current_object()
    if isinstance(user, User):
        user.session_epoch = (user.session_epoch or 0) + 1
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login_form"))


@bp.get("/embed/session-ended")
def embed_session_ended():
    """What a console's frame shows once its embed session ended (under /embed: framable)."""
    lost = lost_action(request.args.get("lost"))
    return render_template("embed/ended.html", lost=lost, embed=True), 401
