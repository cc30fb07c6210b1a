"""Sign-in throttling: growing delays per client and username, no lock-out weapon, no oracle."""

import statistics
import threading
import time
from datetime import timedelta

import pytest

from tests.conftest import PASSWORD
from tests.factories import make_user
from webapp.domain import throttle
from webapp.extensions import db
from webapp.models import AuditLog
from webapp.models import LoginAttempt
from webapp.models import utcnow


@pytest.fixture
def proxied(make_app):
    """An app behind one trusted proxy, so tests choose the client address by X-Forwarded-For."""
    app = make_app(TRUSTED_PROXIES=1)
    with app.app_context():
        make_user("alice", "admin")
    return app


def _login(client, username, password, address):
    return client.post(
        "/login",
        data={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )


def test_five_wrong_passwords_from_one_client_do_not_stop_another_address(proxied):
    attacker = proxied.test_client()
    for _ in range(5):
        assert _login(attacker, "alice", "bad", "203.0.113.9").status_code == 401
    refused = _login(attacker, "alice", PASSWORD, "203.0.113.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Try again in" in refused.get_data(as_text=True)
    owner = proxied.test_client()
    assert _login(owner, "alice", PASSWORD, "198.51.100.7").status_code == 302
    with proxied.app_context():
        rows = db.session.scalars(db.select(AuditLog).where(AuditLog.action == "login_throttled"))
        row = rows.one()
        assert row.detail["address"] == "203.0.113.9" and row.ip == "203.0.113.9"


def test_delays_grow_and_end(proxied):
    client = proxied.test_client()
    for _ in range(5):
        _login(client, "alice", "bad", "203.0.113.9")
    with proxied.app_context():
        row = db.session.get(LoginAttempt, "p:alice|203.0.113.9")
        first = row.blocked_until - row.updated_at
        row.blocked_until = utcnow() - timedelta(seconds=1)  # the delay has passed
        db.session.commit()
    assert _login(client, "alice", "bad", "203.0.113.9").status_code == 401
    with proxied.app_context():
        row = db.session.get(LoginAttempt, "p:alice|203.0.113.9")
        assert row.blocked_until - row.updated_at == 2 * first
    assert throttle.delay_after(100, 5) == timedelta(seconds=throttle.MAX_DELAY_S)


def test_unknown_usernames_are_throttled_alike(proxied):
    client = proxied.test_client()
    for _ in range(5):
        assert _login(client, "ghost", "bad", "203.0.113.9").status_code == 401
    assert _login(client, "ghost", "bad", "203.0.113.9").status_code == 429


def test_forty_concurrent_guesses_check_at_most_the_limit(proxied, monkeypatch):
    checked = []
    real_check = throttle.check_password

    def counting(user, password):
        checked.append(password)
        return real_check(user, password)

    # Counting is all this wrapper adds; the throttle and the database are the real ones.
    monkeypatch.setattr(throttle, "check_password", counting)
    # The limit's first delay must outlast the test: on a busy machine forty password hashes
    # take longer than 1 s, and a guess after the delay has run is rightly checked (it is the
    # growing delay, not a lock-out), which would count a sixth password here.
    monkeypatch.setattr(throttle, "FIRST_DELAY_S", throttle.MAX_DELAY_S)
    results = []
    start = threading.Barrier(40)

    def guess(i):
        client = proxied.test_client()
        start.wait()
        results.append(_login(client, "alice", f"guess{i}", "203.0.113.9").status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 40 and set(results) <= {401, 429, 503}
    assert len(checked) <= throttle.RULES[0].limit, f"{len(checked)} passwords checked"
    assert results.count(401) == len(checked)


def test_unlock_command_clears_the_delay(proxied):
    client = proxied.test_client()
    for _ in range(5):
        _login(client, "alice", "bad", "203.0.113.9")
    assert _login(client, "alice", PASSWORD, "203.0.113.9").status_code == 429
    result = proxied.test_cli_runner().invoke(args=["users", "unlock", "alice"])
    assert result.exit_code == 0, result.output
    assert "unlocked alice" in result.output
    assert _login(client, "alice", PASSWORD, "203.0.113.9").status_code == 302


def test_signin_takes_as_long_for_unknown_users_as_for_known_ones(make_app):
    app = make_app()
    with app.app_context():
        make_user("alice", "admin")
    client = app.test_client()

    def timed(username: str, i: int) -> float:
        started = time.perf_counter()
        client.post("/login", data={"username": username, "password": f"wrong{i}"})
        took = time.perf_counter() - started
        with app.app_context():  # keep the throttle's delays out of the measurement
            db.session.execute(db.delete(LoginAttempt))
            db.session.commit()
        return took

    timed("warm-up", 0)
    # Alternate the two so a busy machine slows both alike.
    pairs = [(timed("alice", i), timed("nobody", i)) for i in range(10)]
    known = statistics.median(k for k, _ in pairs)
    unknown = statistics.median(u for _, u in pairs)
    print(f"sign-in median: known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
    assert abs(known - unknown) <= 0.25 * max(known, unknown)


def test_guesses_from_many_addresses_never_lock_out_the_owner_on_a_known_device(proxied):
    """§18: 100 failures for victim from 25 forwarded addresses; the owner still gets in."""
    with proxied.app_context():
        make_user("victim", "manager")
    owner = proxied.test_client()
    assert _login(owner, "victim", PASSWORD, "198.51.100.1").status_code == 302
    assert owner.get_cookie("replenish_device", path="/login") is not None
    owner.post("/logout")
    attacker = proxied.test_client()
    for n in range(100):
        status = _login(attacker, "victim", "guess", f"203.0.113.{n % 25 + 1}").status_code
        assert status in (401, 429)
    with proxied.app_context():
        row = db.session.get(LoginAttempt, "u:victim")
        assert row.failures >= 100
        # An attack that goes on reaches the long delays; stand in for them without waiting.
        row.blocked_until = utcnow() + timedelta(minutes=15)
        db.session.commit()
    # A browser that never signed in, from a fresh address, is slowed: the guessers' rule holds.
    stranger = proxied.test_client()
    assert _login(stranger, "victim", PASSWORD, "192.0.2.200").status_code == 429
    # The owner's browser, from another fresh address, gets in with the right password.
    assert _login(owner, "victim", PASSWORD, "192.0.2.77").status_code == 302
    assert owner.get("/cameras").status_code == 200
    # The guessers are still slowed after the owner's sign-in.
    assert _login(attacker, "victim", PASSWORD, "203.0.113.1").status_code == 429


def test_a_known_device_cookie_gets_only_its_own_few_guesses(proxied):
    owner = proxied.test_client()
    assert _login(owner, "alice", PASSWORD, "198.51.100.1").status_code == 302
    owner.post("/logout")
    statuses = [_login(owner, "alice", "bad", f"192.0.2.{n}").status_code for n in range(1, 8)]
    assert statuses[:5] == [401] * 5 and 429 in statuses[5:]
    # A cookie for another username, or a forged one, is no known device.
    other = proxied.test_client()
    other.set_cookie("replenish_device", "forged.value", path="/login")
    assert _login(other, "alice", "bad", "192.0.2.99").status_code == 401
