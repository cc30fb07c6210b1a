"""The webhook outbox: every alert is a row until its receiver has taken it."""

from datetime import datetime

from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from ..extensions import db
from .types import UTCDateTime
from .types import utcnow

OUTBOX_STATES = ("pending", "delivered", "failed")


class WebhookDelivery(db.Model):
    """One alert for one receiver: written with the change it reports, sent by the worker.

    Rows outlive a restart (the point of an outbox); ``next_attempt_at`` carries the back-off
    and doubles as the sender's short claim, so two workers never post the same row at once.
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (Index("ix_webhook_outbox_due", "receiver", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    receiver: Mapped[str] = mapped_column(String(2000))
    event: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "HTTP 200", "HTTP 500", "connection refused": masked, for the admin page.
    last_status: Mapped[str | None] = mapped_column(String(300), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
