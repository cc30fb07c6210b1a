"""Domain logic shared by the blueprints, the CLI and the engine (no request handling here)."""
