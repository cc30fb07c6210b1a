"""Business rules shared by the blueprints, the CLI and the engine (see docs/design.md).

Nothing here imports a blueprint; blueprints, commands and ``webapp/anr`` import from here.
"""
