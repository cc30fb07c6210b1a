"""The templates stay readable: no line longer than 200 characters (break attribute lists and
long Jinja expressions over lines instead)."""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
MAX_LINE = 200


def test_no_template_line_is_longer_than_200_characters():
    long_lines = [
        f"{path.relative_to(TEMPLATES)}:{number}: {len(line)} characters"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > MAX_LINE
    ]
    assert not long_lines, "\n".join(long_lines)
