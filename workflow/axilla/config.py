"""Config checking with readable messages: every schema violation, each with its key path."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import yaml

from .errors import InputError, Problem

def check(config: dict, schema_path: str | Path, source: str = "config") -> None:
    """Raise InputError listing every schema violation (Snakemake's own validate shows only the first,
    followed by the whole schema)."""
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = []
    for e in errors:
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        msg = e.message
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            for name in _unknown_keys(e.instance, e.schema):
                where = f"{key}.{name}" if e.absolute_path else name
                close = difflib.get_close_matches(name, list(e.schema.get("properties", {})), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "see config/README.md for the keys"
                problems.append(Problem(source, f"key '{where}': unknown key — {hint}"))
            continue
        elif e.validator == "oneOf" and e.absolute_path and "models" in e.absolute_path:
            msg = "a model needs exactly one of 'features' (a feature model) or 'fuse' (post-fusion)"
        elif e.validator == "oneOf" and list(e.absolute_path) == ["split", "temporal"]:
            msg = "needs exactly one of 'from' (on or after a date) or 'before' (before a date)"
        problems.append(Problem(source, f"key '{key}': {msg}"))
    if problems:
        raise InputError(problems)


def _unknown_keys(instance: dict, schema: dict) -> list[str]:
    known = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in instance if k not in known and not any(p.search(str(k)) for p in patterns)]
