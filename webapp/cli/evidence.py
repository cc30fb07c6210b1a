"""``flask evidence ...``: the installation's public key, and checking an evidence ZIP."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ..domain import evidence as evidence_mod

evidence = AppGroup("evidence", help="Signed evidence exports: the public key, verify a ZIP.")


@evidence.command("public-key")
def public_key_command():
    """Print the public key that checks this installation's evidence exports (base64)."""
    click.echo(evidence_mod.public_key_text(evidence_mod.signing_key(current_app.instance_path)))


@evidence.command("verify")
@click.argument("zip_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--public-key",
    "public_key",
    metavar="KEY",
    help="The exporter's public key (base64, a PEM block, or a file holding either). "
    "Default: this installation's key.",
)
def verify_command(zip_file, public_key):
    """Check an evidence ZIP: the manifest's signature, then every file's SHA-256 and size.

    Exit 0 when everything matches; 1, naming each difference, otherwise.
    """
    if public_key is None:
        key = evidence_mod.signing_key(current_app.instance_path).public_key()
    else:
        text = public_key
        candidate = Path(public_key)
        if len(public_key) < 4096 and candidate.is_file():
            text = candidate.read_text()
        try:
            key = evidence_mod.load_public_key(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--public-key") from None
    problems = evidence_mod.verify_export(zip_file, key)
    for problem in problems:
        click.echo(f"DIFFERS {problem}")
    if problems:
        raise SystemExit(1)
    click.echo(f"OK {zip_file}: the signature and every file's SHA-256 match the manifest")
