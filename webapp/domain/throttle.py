"""Sign-in throttling: growing delays per (username, address), per address and per username.

Every attempt first *reserves* a count on each key with a compare-and-set on the row's own
``failures`` value, committed before the password is checked: concurrent guesses each get a
distinct count, so no more passwords are checked than the limits allow. Past a key's limit, each
further attempt must wait a delay that doubles (1 s, 2 s, 4 s ... up to 15 minutes) instead of a
fixed lock-out, and the pair key means wrong passwords from one address never slow the right
password from another. Success clears the pair and the username counters.

A browser that signed in to this username before carries a signed "known device" cookie (OWASP's
device cookie): its attempts count on that device's own key and the pair instead of the username
and address keys, so guesses spread over many addresses, which do slow the username for everyone
else, never lock its owner out; a stolen cookie still gets only the device limit's guesses.
"""

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import delete
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from ..extensions import db
from ..extensions import rows_matched
from ..models import LoginAttempt
from ..models import utcnow
from ..models.user import password_method

FIRST_DELAY_S = 1
MAX_DELAY_S = 15 * 60


@dataclass(frozen=True)
class Rule:
    """A counter: which key, and how many failures before delays start."""

    kind: str
    limit: int


# The pair is the tight rule; the address rule slows password spraying from one client, the
# username rule slows a guess spread over many addresses (high enough not to be a weapon).
RULES = (Rule("pair", 5), Rule("address", 30), Rule("username", 100))
# A known device: its own counter and the pair, never the username or address counters.
DEVICE_RULES = (Rule("pair", 5), Rule("device", 5))


class Throttled(Exception):
    """Too many failures: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def delay_after(failures: int, limit: int) -> timedelta | None:
    """The wait imposed after ``failures`` failures on a key with ``limit``; None below it."""
    if failures < limit:
        return None
    return timedelta(seconds=min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (failures - limit)))


def _key(
    rule: Rule, username: str, address: str, device: str | None = None
) -> tuple[str, str | None, str | None]:
    if rule.kind == "device":
        return f"d:{device}", username, None
    if rule.kind == "pair":
        return f"p:{username}|{address}", username, address
    if rule.kind == "address":
        return f"a:{address}", None, address
    return f"u:{username}", username, None


def _reserve(rule: Rule, username: str, address: str, device: str | None = None) -> int:
    """Count one attempt on a key, or raise Throttled while its delay runs. Returns the count."""
    key, user_col, addr_col = _key(rule, username, address, device)
    for _ in range(100):  # each lost race means another attempt took a count: bounded
        now = utcnow()
        row = db.session.execute(
            select(LoginAttempt.failures, LoginAttempt.blocked_until).where(LoginAttempt.key == key)
        ).first()
        if row is None:
            db.session.add(LoginAttempt(key=key, username=user_col, address=addr_col, failures=0))
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()  # another attempt created it first
            continue
        failures, blocked_until = row
        if blocked_until is not None and blocked_until > now:
            raise Throttled(max(1, int((blocked_until - now).total_seconds() + 0.999)))
        wait = delay_after(failures + 1, rule.limit)
        result = db.session.execute(
            update(LoginAttempt)
            .where(LoginAttempt.key == key, LoginAttempt.failures == failures)
            .values(
                failures=failures + 1,
                blocked_until=now + wait if wait else None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        moved = rows_matched(result)
        db.session.commit()
        if moved == 1:
            return failures + 1
    raise Throttled(FIRST_DELAY_S)


def reserve_attempt(username: str, address: str, device: str | None = None) -> bool:
    """Reserve one password check for (username, address); True when a key just hit its limit.

    ``device`` is the id of this username's known-device cookie, when the browser sent a valid
    one. Raises Throttled while any key's delay runs (nothing is checked then). Commits.
    """
    address = (address or "unknown")[:64]
    newly_limited = False
    for rule in DEVICE_RULES if device else RULES:
        newly_limited |= _reserve(rule, username, address, device) == rule.limit
    return newly_limited


def clear_after_success(username: str, address: str, device: str | None = None) -> None:
    """Forget the pair and username counters after a right password (the caller commits).

    The address counter only gives this attempt back: signing in to one's own account must not
    wipe what a client spraying passwords at other accounts has built up. The owner signing in
    on a known device leaves the username counter alone: the guessers stay slowed.
    """
    address = (address or "unknown")[:64]
    rules = DEVICE_RULES if device else [r for r in RULES if r.kind != "address"]
    keys = [_key(rule, username, address, device)[0] for rule in rules]
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.key.in_(keys)))
    if device:
        return
    db.session.execute(
        update(LoginAttempt)
        .where(LoginAttempt.key == f"a:{address}", LoginAttempt.failures > 0)
        .values(failures=LoginAttempt.failures - 1)
        .execution_options(synchronize_session=False)
    )


def unlock(username: str) -> int:
    """Forget every counter naming ``username`` (``flask users unlock``); returns rows removed."""
    result = db.session.execute(
        delete(LoginAttempt).where(
            or_(LoginAttempt.username == username, LoginAttempt.key == f"u:{username}")
        )
    )
    return rows_matched(result)


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return generate_password_hash("not a password anyone has", method=method)


def check_password(user, password: str) -> bool:
    """Check a password with the same work whether or not the user exists (no timing oracle)."""
    if user is None:
        check_password_hash(_dummy_hash(password_method()), password)
        return False
    return user.check_password(password)
