"""The report's inputs, resolved and read once: required result tables and the optional files found."""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..settings import Study as Settings
from .spec import DECLARABLE, OPTIONAL


def existing(paths) -> list[str]:
    """The paths (a str, a list or None; globs expanded, sorted) that exist."""
    if paths is None:
        return []
    if isinstance(paths, str):
        paths = [paths]
    found = []
    for p in paths:
        found.extend(sorted(glob.glob(p)) if any(ch in p for ch in "*?[") else ([p] if os.path.exists(p) else []))
    return found


def by_key(paths: list[str], keys: Sequence[str], part: int) -> dict[str, str]:
    """Map model/cohort names to paths: `part` = index of the path component holding the name
    (-2: folder, e.g. models/<m>/x.csv; -1: file stem prefix, e.g. metrics/<c>_x.csv)."""
    out = {}
    for p in paths:
        for k in keys:
            name = Path(p).parts[part] if part == -2 else Path(p).name
            if (part == -2 and name == k) or (part == -1 and (name == f"{k}.csv" or name.startswith(f"{k}_"))):
                out[k] = p
    return out


def resolve_optional(inputs: Mapping[str, object], optional: Mapping[str, object],
                     cohorts: Sequence[str]) -> dict[str, list[str]]:
    """Optional name -> existing files: discovered from `optional`, unless the rule declared them."""
    opt = {k: existing(v) for k, v in optional.items()}
    for k in DECLARABLE:
        if k in inputs:  # declared rule inputs take precedence over discovered files
            opt[k] = existing(inputs[k])
            tpl = OPTIONAL.get(k, ("",))[0]
            if "{cohort}" in tpl:  # a rule may declare several per-cohort tables under one name
                names = {Path(tpl.format(cohort=c)).name for c in cohorts}
                opt[k] = [q for q in opt[k] if Path(q).name in names]
    if "gradcam" in inputs:  # declared as the deep rule's per-view folders
        opt["gradcam"] = existing([os.path.join(d, "*.png") for d in existing(inputs["gradcam"])])
    return opt


@dataclass
class Study:
    """Everything a section may draw on. Tables are keyed by cohort (metrics, preds, pairwise,
    dca) or by model (coefs); `opt` holds the optional files that exist, by OPTIONAL name."""

    inputs: Mapping[str, object]
    settings: Settings  # the study's typed settings
    cfg: Mapping  # the configuration as given (schema defaults filled), for the appendix
    cohorts: list[str]
    models: list[str]
    optional: dict[str, object]
    opt: dict[str, list[str]]
    primary: str
    split: pd.DataFrame
    clinical: pd.DataFrame
    metrics: dict[str, pd.DataFrame] = field(default_factory=dict)
    preds: dict[str, pd.DataFrame] = field(default_factory=dict)
    pairwise: dict[str, pd.DataFrame] = field(default_factory=dict)
    dca: dict[str, pd.DataFrame] = field(default_factory=dict)
    coefs: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def train_cohort(self) -> str:
        return self.cohorts[0]

    def by_model(self, name: str) -> dict[str, str]:
        """model -> file of optional input `name` (models/<m>/... or selection/<m>/...)."""
        return by_key(self.opt.get(name, []), self.models, -2)

    def by_cohort(self, name: str) -> dict[str, str]:
        """cohort -> file of optional input `name` (metrics/<c>_...)."""
        return by_key(self.opt.get(name, []), self.cohorts, -1)

    def counts(self) -> pd.DataFrame:
        """Patients, node positive and negative, prevalence per cohort (in cohort order)."""
        counts = self.split.groupby("cohort")["y"].agg(patients="size", positive="sum").reindex(
            self.cohorts).reset_index()
        counts["negative"] = counts.patients - counts.positive
        counts["prevalence"] = counts.positive / counts.patients
        return counts

    def excluded(self) -> pd.DataFrame:
        """validate/excluded.csv (patient_id, problem, reason): the patients validation excluded;
        empty when not given. A list from before problem classes (no `problem`) is of missing views."""
        path = self.inputs.get("excluded")
        if not path or not os.path.exists(str(path)):
            return pd.DataFrame(columns=["patient_id", "problem", "reason"])
        table = pd.read_csv(path, dtype={"patient_id": str}, keep_default_na=False)
        return table if "problem" in table.columns else table.assign(problem="missing_view")

    def kept_without(self) -> list[tuple[str, int]]:
        """(subgroup, patients) of analysed patients kept with views absent (validate.missing_view:
        allow), e.g. ("lacking MRI", 8), from validate/availability.csv; empty when all are complete."""
        from ..availability import COMPLETE, subgroups

        path = self.inputs.get("views_present")
        if not path or not os.path.exists(str(path)):
            return []
        table = pd.read_csv(path, dtype={"patient_id": str})
        groups = subgroups(table[table.patient_id.isin(set(self.split.patient_id))]).value_counts()
        return [(g, int(n)) for g, n in sorted(groups.items()) if g != COMPLETE]

    def nomograms(self) -> dict[str, str]:
        """model -> nomogram file (the SVG, or the PNG beside the expected SVG)."""
        noms = {}
        pngs = existing([p.replace(".svg", ".png") for p in self.optional.get("nomogram", [])])
        for p in self.opt.get("nomogram", []) + pngs:
            noms.update(by_key([p], self.models, -2))
        return noms


def primary_model(settings: Settings, models: Sequence[str]) -> str:
    """The model of the single-model figures: report.primary_model, else the last model.

    A study's config is checked when the workflow is parsed (:func:`axilla.settings.load`); this
    guards direct calls with another model list."""
    primary = settings.report.primary_model or models[-1]
    if primary not in models:
        raise ValueError(f"config report.primary_model: '{primary}' is not a model of this study ({models})")
    return primary


def load_study(inputs: Mapping[str, object], settings: Settings, cfg: Mapping, cohorts: Sequence[str],
               models: Sequence[str], optional: Mapping[str, object] | None = None) -> Study:
    """Resolve the optional inputs and read the required result tables."""
    optional = dict(optional or {})
    cohorts, models = list(cohorts), list(models)
    opt = resolve_optional(inputs, optional, cohorts)
    primary = primary_model(settings, models)
    split = pd.read_csv(inputs["split"], dtype={"patient_id": str})
    clinical = pd.read_csv(inputs["clinical"], dtype={"patient_id": str})

    def each(key):  # Snakemake hands a one-file named input over as a plain str
        v = inputs[key]
        return [v] if isinstance(v, str) else list(v)

    def read(key, keys, **kw):
        return dict(zip(keys, (pd.read_csv(p, **kw) for p in each(key)), strict=True))

    return Study(inputs, settings, cfg, cohorts, models, optional, opt, primary, split, clinical,
                 metrics=read("metrics", cohorts),
                 preds=read("predictions", cohorts, dtype={"patient_id": str}),
                 pairwise=read("pairwise", cohorts), dca=read("dca", cohorts),
                 coefs=read("coefficients", models))
