"""``flask anr ...``: the engine's commands (worker, indexer, simulated camera)."""

from flask.cli import AppGroup

anr = AppGroup("anr", help="The ANR engine: worker, indexer, simulated camera.")
