"""Schema defaults: the config schema (``workflow/schemas/config.schema.yaml``), the one place
defaults live, and the functions that fill them into a config or one of its entries (also inside
optional objects, per-modality blocks and per-view maps, which Snakemake's own ``validate`` leaves
empty). Re-exported by :mod:`axilla.settings`."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


@functools.lru_cache(maxsize=4)
def load_schema(path: str | Path = SCHEMA) -> dict:
    """The config schema (cached: read-only to every caller here)."""
    # libyaml when present: per-image jobs build their section from it (~5 ms instead of ~100)
    return yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _resolve(node: dict, root: dict) -> dict:
    """Follow a local ``$ref`` (``#/$defs/x`` or ``#/definitions/x``), keeping sibling keys."""
    while isinstance(node, dict) and "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


_NONE = object()


def _fill(value: Any, node: dict, root: dict) -> Any:
    """``value`` with the defaults of schema ``node`` filled in, recursively."""
    node = _resolve(node, root)
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub, root)
        default = sub.get("default", sub.get("fill", _NONE))  # fill: a default inside a nullable object
        if key not in out and default is not _NONE:
            out[key] = copy.deepcopy(default)
        if key in out:
            out[key] = _fill(out[key], sub, root)
    for pattern_sub in node.get("patternProperties", {}).values():
        for key in out:
            if key not in node.get("properties", {}):
                out[key] = _fill(out[key], pattern_sub, root)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key in out:
            if key not in node.get("properties", {}):
                out[key] = _fill(out[key], extra, root)
    return out


def classifier_spec(spec: dict | str | None) -> dict:
    """A ``models.<m>.classifier`` entry (or a learner's name, or None for the default one) with
    the schema's defaults: ``name``, and ``tune``'s folds and repeats (also for ``tune: true``)."""
    schema = load_schema()
    node = schema["properties"]["models"]["additionalProperties"]["properties"]["classifier"]
    spec = {"name": spec} if isinstance(spec, str) else dict(spec or {})
    if spec.get("tune") is True:
        spec["tune"] = {}
    return _fill(spec, node, schema)


def select_spec(spec: dict | None) -> dict:
    """A ``select`` section (study-wide or a model's own; None: all defaults) with the schema's
    defaults: the steps, and every step's options."""
    schema = load_schema()
    return _fill(dict(spec or {}), schema["definitions"]["select"], schema)


def with_defaults(config: dict, schema: dict | None = None) -> dict:
    """A copy of ``config`` with every schema default filled in.

    Every configured modality gets a ``preprocess`` block, so no stage needs a default of its
    own: a modality the config leaves out (or all of them, without ``preprocess``) gets the
    schema's recommended block (``preprocess``'s ``default``: N4 and 1 mm for MRI, a fixed spacing
    for MG / US), never "no preprocessing"; a block the config gives is taken as written, the keys
    it leaves out from their own defaults.
    """
    schema = load_schema() if schema is None else schema
    config = copy.deepcopy(config)
    recommended = schema["properties"]["preprocess"].get("default", {})
    config["preprocess"] = dict(config.get("preprocess") or {})
    for modality in config.get("views", {}):
        if config["preprocess"].get(modality) is None:
            config["preprocess"][modality] = copy.deepcopy(recommended.get(modality, {}))
    # every view's ROI source, so that no stage needs a default of its own either
    per_view = schema["properties"]["roi"]["properties"]["source"]["additionalProperties"]["default"]
    config["roi"] = {**(config.get("roi") or {})}
    config["roi"]["source"] = {**{f"{m}_{v}": per_view for m, vs in config.get("views", {}).items() for v in vs},
                               **(config["roi"].get("source") or {})}
    return _fill(config, schema, schema)
