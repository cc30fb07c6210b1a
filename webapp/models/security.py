"""Sign-in security: failed-attempt counters and the embed sign-on tokens already used."""

from datetime import datetime

from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ..extensions import Model
from .types import UTCDateTime
from .types import utcnow


class LoginAttempt(Model):
    """Failed sign-ins counted per key: a username, a client address, or the pair of both.

    ``failures`` only ever moves by a compare-and-set on its own value, so concurrent guesses
    each take a distinct count and never check more passwords than the limit allows.
    """

    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(String(220), primary_key=True)
    username: Mapped[str | None] = mapped_column(String(150), nullable=True, index=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedEmbedToken(Model):
    """The id of each embed sign-on token already used, so a replay is refused."""

    __tablename__ = "used_embed_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
