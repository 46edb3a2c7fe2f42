"""Out-of-fold fine-tuning: the network's own probability for each training patient from the fold
network that never saw it (deep.signature: probability), and the inner-CV AUC per backbone
(deep.backbones, deep.choose). Held-out cohorts are never in any fold's training set: they are
scored by the network fine-tuned on the whole training cohort (axilla.deep.stage).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .backbones import set_threads
from .compare import HELD_OUT, choose, comparison_rows, fold_of, inner_cv_auc

log = logging.getLogger(__name__)

# fit(backbone name, per-patient mask of the patients it may train on) -> fine-tuned network
Fit = Callable[[str, np.ndarray], torch.nn.Module]


def predict_proba(model: torch.nn.Module, images: np.ndarray, batch_size: int = 16, device: str = "cpu",
                  threads: int | None = None) -> np.ndarray:
    """sigmoid of the network's one output logit per image, (N,) float64; eval mode, no gradients,
    the model's train/eval mode restored."""
    set_threads(threads)
    images = np.asarray(images, dtype=np.float32)
    was_training = model.training
    model.to(device).eval()
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                logits = model(torch.from_numpy(images[start : start + batch_size]).to(device))
                out.append(torch.sigmoid(logits.float().reshape(len(logits), -1)[:, 0]).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def per_patient(owner: np.ndarray, probs: np.ndarray, patients: np.ndarray) -> np.ndarray:
    """Each patient's mean probability over its rows (its slices; `owner` = each row's patient)."""
    return np.array([probs[owner == i].mean() for i in patients])


def oof_probability(fit: Fit, name: str, rows: np.ndarray, owner: np.ndarray, fold: np.ndarray, folds: int,
                    batch_size: int, device: str, threads: int | None) -> np.ndarray:
    """Per patient: the probability given by the fold network trained on the other folds' training
    patients (NaN for held-out patients, fold HELD_OUT)."""
    out = np.full(len(fold), np.nan)
    for k in range(folds):
        model = fit(name, (fold != HELD_OUT) & (fold != k))
        scored = np.flatnonzero(fold == k)
        sel = np.isin(owner, scored)
        out[scored] = per_patient(owner[sel], predict_proba(model, rows[sel], batch_size, device, threads), scored)
        log.info("%s fold %d/%d: %d training patients scored out of fold", name, k + 1, folds, len(scored))
    return out


def out_of_fold(fit: Fit, candidates: Sequence[str], rows: np.ndarray, owner: np.ndarray, is_train: np.ndarray,
                y: np.ndarray, folds: int, seed: int, rule: str, batch_size: int, device: str,
                threads: int | None) -> tuple[str, np.ndarray, np.ndarray, dict[str, float]]:
    """(chosen backbone, its out-of-fold probabilities per patient, each patient's fold, inner-CV AUC
    per candidate) of one view; every candidate is fine-tuned on the same folds."""
    fold = fold_of(is_train, y, folds, seed)
    oof, aucs = {}, {}
    for name in candidates:
        oof[name] = oof_probability(fit, name, rows, owner, fold, folds, batch_size, device, threads)
        aucs[name] = inner_cv_auc(y[is_train], oof[name][is_train])
        log.info("%s: inner-CV AUC %.3f (%d folds)", name, aucs[name], folds)
    chosen = choose(aucs, rule)
    return chosen, oof[chosen], fold, aucs


def record(patients: Sequence[str], fold: np.ndarray, folds: int, aucs: dict[str, float], chosen: str,
           signature: str, rule: str) -> dict:
    """The provenance of the out-of-fold step: each patient's fold ("held-out": the full-cohort
    network's), and the comparison when several backbones were fine-tuned."""
    rec = {"signature": {"kind": signature, "folds": folds,
                         "fold": {p: ("held-out" if f == HELD_OUT else int(f)) for p, f in zip(patients, fold)}}}
    if len(aucs) > 1:
        rec["comparison"] = comparison_rows(aucs, chosen)
        rec["choose"] = rule
    return rec
