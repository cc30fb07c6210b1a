"""Gap states, the sets of states the app reasons about, and who may move a gap where.

Every other module names states and sets of states through this one (docs/design.md, "The gap
state machine"). It imports nothing, so the models can use it too.
"""

from enum import StrEnum


class GapState(StrEnum):
    """A gap's ``fill_state``: the member IS its string, so the database and JSON keep the words.

    ``GapState.FAILED == "failed"``; a value read from a row compares equal to its member.
    """

    PENDING = "pending"
    FILLING = "filling"
    FILLED = "filled"
    PARTIAL = "partial"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def severity(self) -> int:
        """How bad the state is (``WORST_FIRST``): higher is worse; merged gaps show the worst."""
        return SEVERITY[self]

    @property
    def label(self) -> str:
        """The state's name on a badge, a tab and a filter: ``Partial``."""
        return _WORDS[self][0]

    @property
    def help(self) -> str:
        """What the state means, in a sentence (tooltips, the legend's title)."""
        return _WORDS[self][1]

    @property
    def hint(self) -> str:
        """What the state means in a few words, visible in the legend: ``only part recovered``."""
        return _WORDS[self][2]


PENDING = GapState.PENDING
FILLING = GapState.FILLING
FILLED = GapState.FILLED
PARTIAL = GapState.PARTIAL
FAILED = GapState.FAILED
EXPIRED = GapState.EXPIRED

# Display and API order.
FILL_STATES = (PENDING, FILLING, FILLED, PARTIAL, FAILED, EXPIRED)

# What each state is called and means, as every page, badge and legend says it.
_WORDS: dict[str, tuple[str, str, str]] = {
    PENDING: ("Pending", "Waiting in the fill queue", "queued to be filled"),
    FILLING: ("Filling", "A worker is copying footage from the camera now", "being copied now"),
    FILLED: ("Filled", "Footage recovered and written to the archive", "recovered, nothing to do"),
    PARTIAL: (
        "Partial",
        "The camera's replay ended early: only part recovered",
        "only part recovered",
    ),
    FAILED: (
        "Failed",
        "Every attempt failed; press Retry to queue it again",
        "every try failed: Retry",
    ),
    EXPIRED: ("Expired", "Older than the camera's SD-card retention", "gone from the SD card"),
}

# The ONE worst-state order, worst first. A failed gap outranks a partial one, which outranks an
# expired one: failed is what an operator acts on first (Retry may still recover all of it),
# partial has footage missing but some back, and expired footage is gone from the card. The
# timeline's merged marks, the fleet's attention ranking and the attention states below all read
# this order.
WORST_FIRST = (FAILED, PARTIAL, EXPIRED, FILLING, PENDING, FILLED)
SEVERITY: dict[str, int] = {state: len(WORST_FIRST) - i for i, state in enumerate(WORST_FIRST)}

# A gap an operator should look at: the engine gave up on it (alerts, fleet filter, Retry all),
# worst first.
ATTENTION = WORST_FIRST[:3]

# How a fill attempt (``FillRun.outcome``) ended: the gap outcomes the worker records, plus
# stopped (an operator's Stop), returned (the worker shut down), lost (its lease ran out) and
# unsupported (the camera cannot replay). The queue's outcome filter offers these.
FILL_OUTCOMES = (
    "filled",
    "partial",
    "failed",
    "expired",
    "stopped",
    "returned",
    "lost",
    "unsupported",
)

# A gap with recovered footage to watch and export (docs/design.md, Evidence).
WATCHABLE = frozenset({FILLED, PARTIAL})

# A camera's recording status (webapp/domain/recording_health.py): recording, no new footage for
# longer than ANR_STALE_MINUTES, no footage ever, or disabled.
RECORDING_STATUSES = ("ok", "stale", "never", "off")
# A camera in one of these needs attention too, whatever its gaps (fleet filter, alerts).
RECORDING_ATTENTION = frozenset({"stale", "never"})

# Who asks for a change: an operator (page, API, bulk retry) or the engine (worker, queue
# sweeps, indexer). Seeding and repair tools act as the engine.
OPERATOR = "operator"
ENGINE = "engine"

_ENG = frozenset({ENGINE})
_OP = frozenset({OPERATOR})

# from-state -> {to-state: who may make that move}. ``pending -> pending`` is an operator's
# retry of a queued gap (it resets the attempts); ``filled`` is final.
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    PENDING: {PENDING: _OP, FILLING: _ENG, EXPIRED: _ENG, FILLED: _ENG},
    # filling -> expired: the camera's card said the window is gone (no attempt spent).
    FILLING: {PENDING: _ENG, FILLED: _ENG, PARTIAL: _ENG, FAILED: _ENG, EXPIRED: _ENG},
    FILLED: {},
    PARTIAL: {PENDING: _OP, FILLED: _ENG},
    FAILED: {PENDING: _OP, FILLED: _ENG},
    EXPIRED: {PENDING: _OP, FILLED: _ENG},
}

# Why an operator may not send a gap of this state back to the queue (the 409's message).
RETRY_REFUSALS: dict[str, str] = {
    FILLED: "is already filled; there is nothing to fetch",
    FILLING: "is being filled right now",
}


def may_move(old: str, new: str, by: str = ENGINE) -> bool:
    """True when ``by`` may move a gap from ``old`` to ``new``."""
    return by in TRANSITIONS.get(old, {}).get(new, ())


# States an operator's Retry accepts, read off the table.
RETRYABLE = tuple(s for s in FILL_STATES if may_move(s, PENDING, OPERATOR))

# States the indexer marks filled when segments come to cover the gap's window. Not filling:
# a running fill ends in its own outcome.
COVERABLE = (PENDING, PARTIAL, FAILED, EXPIRED)
