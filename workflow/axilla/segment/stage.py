"""The `segment` rule: train, fuse and evaluate the networks of one 2D view.

Writes into one folder (moved into place whole): `<patient>.nii.gz` (fused mask, on the
preprocessed image's grid), `<network>/<patient>.nii.gz`, `cases.csv` (every mask's metrics
against the primary rater), `raters.csv` (Dice between the manual masks of each rater pair),
`training.json` (every run's training and segmented patients, epochs, initialisation) and
`overlays/` (the report's best / median / worst cases).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ..exclusion import computed
from ..io import atomic_path, write_csv, write_json
from ..settings import Segment
from . import data, fusion, metrics, overlays, training
from .folds import plans
from .review import FUSED

log = logging.getLogger(__name__)


def encoder_spec(settings: Segment) -> dict | None:
    """The weights cache's ImageNet file of DeepLabV3's encoder, or None (random)."""
    if settings.encoder_weights != "imagenet":
        return None
    from ..weights import resolve

    spec, _ = resolve("imagenet", settings.encoder, 2)
    return {k: v for k, v in spec.items() if k != "architecture"}


def segment_probabilities(cases: dict, cohort_of: dict, settings: Segment, primary: str, seed: int,
                          device: str = "cpu") -> tuple[dict, list]:
    """network -> patient -> probability map on the image's grid, and the record of every run.

    Each run trains on its plan's patients only (their `primary` masks) and segments its plan's
    other patients (axilla.segment.folds); patients without a `primary` mask are segmented by the
    final run (networks of all masked training patients) and never trained on."""
    patients = sorted(cases)
    size = settings.size
    x = {p: data.to_input(cases[p].image, size) for p in patients}
    y = {p: data.to_target(cases[p].masks[primary], size) for p in patients if primary in cases[p].masks}
    unmasked = [p for p in patients if p not in y]
    if unmasked:
        log.info("%d patient(s) without a %s mask: segmented by the networks of all masked training patients, "
                 "never trained on nor evaluated: %s", len(unmasked), primary, ", ".join(unmasked))
    probs, records, weights = {n: {} for n in settings.models}, [], encoder_spec(settings)
    cohorts = [cohort_of[p] for p in patients]
    for r, plan in enumerate(plans(patients, cohorts, settings.folds, seed, unmasked=unmasked)):
        for j, name in enumerate(settings.models):
            run_seed = seed + 1000 * j + r
            model, rec = training.fit(name, np.stack([x[p] for p in plan.train]), np.stack([y[p] for p in plan.train]),
                                      settings, run_seed, device, weights if name == "deeplabv3" else None)
            out = training.predict(model, np.stack([x[p] for p in plan.predict]), device=device)
            for p, prob in zip(plan.predict, out):
                probs[name][p] = data.to_grid(prob, cases[p].image.shape)
            records.append({"run": plan.name, "seed": run_seed, "trained_on": list(plan.train),
                            "segmented": list(plan.predict), **rec})
            log.info("%s %s: %d patients, best epoch %d of %d (%.1f s)", plan.name, name, len(plan.train),
                     rec["best_epoch"], rec["epochs_run"], rec["seconds"])
    return probs, records


def masks_of(probs: dict, settings: Segment) -> dict:
    """model -> patient -> mask: each network post-processed alone, and the fused mask."""
    out = {n: {p: fusion.single(pr, settings.threshold) for p, pr in by.items()} for n, by in probs.items()}
    patients = sorted(next(iter(probs.values())))
    out[FUSED] = {p: fusion.fuse([probs[n][p] for n in probs], settings.fusion, settings.threshold)
                  for p in patients}
    return out


def case_table(masks: dict, cases: dict, cohort_of: dict, primary: str, modality: str, view: str) -> pd.DataFrame:
    """One row per model × patient: the metrics against the primary manual mask, and both masks'
    pixel counts (the review list's areas); metrics and manual_pixels empty without a manual mask."""
    rows = [{"model": m, "modality": modality, "view": view, "cohort": cohort_of[p], "patient": p,
             **_agreement(mk, cases[p].masks.get(primary), cases[p].spacing), "roi_pixels": int(np.count_nonzero(mk))}
            for m, by in masks.items() for p, mk in sorted(by.items())]
    table = pd.DataFrame(rows)
    table["manual_pixels"] = table.pop("manual_pixels").astype("Int64")  # last, whole numbers with gaps
    return table


def _agreement(mask: np.ndarray, manual: np.ndarray | None, spacing) -> dict:
    """case_metrics and the manual mask's pixel count; NaN (empty cells) without a manual mask."""
    if manual is None:
        return {**{m: np.nan for m in metrics.METRICS}, "empty": not mask.any(), "manual_pixels": None}
    return {**metrics.case_metrics(mask, manual, spacing), "manual_pixels": int(np.count_nonzero(manual))}


def rater_table(cases: dict, cohort_of: dict, modality: str, view: str) -> pd.DataFrame:
    """Dice of every pair of manual masks of a patient (A vs B inter-, A vs A2 intra-rater)."""
    rows = [{"modality": modality, "view": view, "pair": f"{a}-{b}", "cohort": cohort_of[p], "patient": p,
             "dice": metrics.case_metrics(c.masks[a], c.masks[b], c.spacing)["dice"]}
            for p, c in sorted(cases.items()) for a, b in combinations(sorted(c.masks), 2)]
    return pd.DataFrame(rows, columns=["modality", "view", "pair", "cohort", "patient", "dice"])


def _write(out: Path, masks: dict, cases: dict, table: pd.DataFrame, raters: pd.DataFrame, records: dict,
           primary: str) -> None:
    for model, by in masks.items():
        for p, mk in by.items():
            data.write_mask(mk, cases[p].reference, out / (f"{p}.nii.gz" if model == FUSED else f"{model}/{p}.nii.gz"))
    write_csv(table, out / "cases.csv")
    write_csv(raters, out / "raters.csv")
    write_json(records, out / "training.json")
    fused = table[(table.model == FUSED) & table.dice.notna()]  # the cases with a manual mask
    overlays.write_examples(fused, {p: c.image for p, c in cases.items()},
                            {p: c.masks[primary] for p, c in cases.items() if primary in c.masks}, masks[FUSED],
                            out / "overlays")


def run(prep_dirs: Sequence[str], split_csv: str, key: str, settings: Segment, primary_rater: str, seed: int,
        threads: int, out_dir: str) -> None:
    """Segment view `key` (MOD_view) of every patient that validate kept; write `out_dir`."""
    import torch

    from ..deep.backbones import choose_device, set_threads
    from ..deep.reproducible import mode_of, strict_mode

    modality, view = key.split("_", 1)
    split = pd.read_csv(split_csv, dtype={"patient_id": str}).set_index("patient_id")
    cases = {c.patient: c for c in map(data.read_case, computed(prep_dirs)) if c.patient in split.index}
    cohort_of = {p: split.loc[p, "cohort"] for p in cases}
    device = choose_device()
    threads = settings.threads if mode_of(settings.reproducible) == "strict" else threads
    set_threads(threads)
    log.info("%s: %d patients on %s (%d threads)", key, len(cases), device, torch.get_num_threads())
    with strict_mode(settings.reproducible, threads, device) as pinned:
        probs, records = segment_probabilities(cases, cohort_of, settings, primary_rater, seed, device)
    records = {"device": device, "reproducible": pinned, "runs": records}
    masks = masks_of(probs, settings)
    table = case_table(masks, cases, cohort_of, primary_rater, modality, view)
    with atomic_path(out_dir, directory=True) as tmp:
        _write(tmp, masks, cases, table, rater_table(cases, cohort_of, modality, view), records, primary_rater)
