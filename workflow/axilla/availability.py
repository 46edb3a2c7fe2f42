"""Patients with absent views (``validate.missing_view: allow``): which views each patient has,
which patients each model can use, and the availability subgroups that evaluation reports.

A model is fitted and evaluated on the patients that have every view its feature sources read
(complete for that model); a whole absent modality is never imputed. ``availability.csv``, written
by ``validate``, holds one 0/1 column per ``MOD_view`` of the config's ``views`` (all 1 under
``stop`` / ``drop``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

COMPLETE = "complete"


def view_keys(views: Mapping[str, Sequence[str]]) -> list[str]:
    """``MOD_view`` of every configured view, in config order."""
    return [f"{m}_{v}" for m, vs in views.items() for v in vs]


def availability_table(manifest: pd.DataFrame, views: Mapping[str, Sequence[str]], primary_rater: str,
                       auto_views: Sequence[str] = ()) -> pd.DataFrame:
    """``patient_id`` + one 0/1 column per view: 1 when the patient has the view's image with a
    primary-rater mask (the image radiomics and deep features are computed from); in an auto view
    (``roi.source: auto``) the image alone, with or without manual masks (its ROI is automatic)."""
    have = set(zip(manifest.patient_id, manifest.modality, manifest.view, manifest.rater))
    images = set(zip(manifest.patient_id, manifest.modality, manifest.view))
    patients = sorted(manifest.patient_id.unique())
    table = pd.DataFrame({"patient_id": patients})
    for m, vs in views.items():
        for v in vs:
            auto = f"{m}_{v}" in auto_views
            table[f"{m}_{v}"] = [int((p, m, v) in images if auto else (p, m, v, primary_rater) in have)
                                 for p in patients]
    return table


def views_needed(specs: Sequence[str], keys: Sequence[str]) -> list[str]:
    """The views (of ``keys``) that feature sources ``specs`` read: ``radiomics`` / ``deep`` all
    views, ``radiomics:MRI`` the MRI views, ``deep:US_tumor`` that view, ``clinical`` / ``blood``
    none. A prefix names a view's columns when one of the two, followed by '_', starts the other."""
    needed = set()
    for spec in specs:
        source, _, prefix = spec.partition(":")
        if source in ("clinical", "blood"):
            continue
        for k in keys:
            if not prefix or (k + "_").startswith(prefix + "_") or prefix.startswith(k + "_"):
                needed.add(k)
    return [k for k in keys if k in needed]


def usable(specs: Sequence[str], availability: pd.DataFrame) -> pd.Series:
    """Per patient (index patient_id): True when the patient has every view ``specs`` read."""
    table = availability.set_index(availability.patient_id.astype(str))
    keys = [c for c in table.columns if c != "patient_id"]
    needed = views_needed(specs, keys)
    return table[needed].astype(int).eq(1).all(axis=1) if needed else pd.Series(True, index=table.index)


def subgroups(availability: pd.DataFrame) -> pd.Series:
    """Per patient (index patient_id) the label of its availability pattern: ``complete``, or
    ``lacking`` + the absent modalities (all their views absent) and single views, e.g.
    ``lacking MRI`` or ``lacking MRI_T2, US_node``."""
    table = availability.set_index(availability.patient_id.astype(str)).drop(columns="patient_id")
    by_mod: dict[str, list[str]] = {}
    for k in table.columns:
        by_mod.setdefault(k.split("_", 1)[0], []).append(k)

    def label(row) -> str:
        absent = []
        for mod, ks in by_mod.items():
            gone = [k for k in ks if int(row[k]) == 0]
            absent += [mod] if gone and len(gone) == len(ks) else gone
        return "lacking " + ", ".join(absent) if absent else COMPLETE

    return pd.Series([label(r) for _, r in table.iterrows()], index=table.index, dtype=object)
