"""A preset's fidelity table (``config/presets/<preset>.md``): one markdown table, one row per
Methods element of the preset's paper, ``| Element | Paper (quoted) | Key | Value | Status | Reason |``
with Status ``same`` or ``deviation``. Read here for the report's summary (the deviations a
reviewer checks first) and by ``tests/test_fidelity_tables.py`` (every key holds its value)."""

from __future__ import annotations

import re
from pathlib import Path

COLUMNS = ["Element", "Paper (quoted)", "Key", "Value", "Status", "Reason"]


def parse_table(text: str) -> tuple[list[str], list[dict]]:
    """The header and rows (column -> cell) of the one markdown table in ``text``."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    if len(lines) < 3:
        return [], []
    # a cell may hold an escaped pipe (\|), as markdown allows
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", ln[1:-1])] for ln in lines]
    header, sep, body = cells[0], cells[1], cells[2:]
    if not all(re.fullmatch(r":?-{3,}:?", c) for c in sep):
        raise ValueError(f"no separator row under the header: {sep}")
    return header, [dict(zip(header, r)) for r in body]


def table_path(root: str | Path, preset: str | None) -> Path | None:
    """``<root>/config/presets/<preset>.md`` when the preset has a table, else None."""
    path = Path(root) / "config" / "presets" / f"{preset}.md"
    return path if preset and path.exists() else None


def deviations(path: str | Path) -> tuple[int, list[dict]]:
    """(number of rows, the rows whose status is ``deviation``) of a fidelity table."""
    _, rows = parse_table(Path(path).read_text())
    return len(rows), [r for r in rows if r.get("Status") == "deviation"]
