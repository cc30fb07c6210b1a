"""The command line: ``flask --app wsgi users|apikeys|cameras|demo|anr|evidence ...`` (README).

One module per group: accounts (users, apikeys), cameras, demo, anr (the engine), evidence.
"""

from flask import Flask

from .accounts import apikeys
from .accounts import users
from .anr import anr
from .cameras import cameras
from .demo import demo_commands
from .evidence import evidence


def install(app: Flask) -> None:
    """Register every command group on ``app.cli``."""
    for group in (users, apikeys, cameras, demo_commands, anr, evidence):
        app.cli.add_command(group)
