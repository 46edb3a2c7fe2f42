"""Feature reproducibility from multi-rater masks: ICC per radiomics feature.

ICC forms follow Shrout & Fleiss (1979) / McGraw & Wong (1996), as psych::ICC and pingouin
compute them from the two-way ANOVA mean squares:
- ICC(2,1), two-way random effects, absolute agreement, single rater (`ICC2`): raters are a
  sample of possible raters and systematic rater offsets count as disagreement — the usual
  choice when a second reader will redraw the ROI.
- ICC(3,1), two-way mixed effects, consistency (`ICC3`): rater offsets are ignored.

Sources (`reproducibility.source`): `raters` — one ICC per configured rater pair
(`reproducibility.pairs`, e.g. A-B inter-rater, A-A2 intra-rater); `perturbation` — one ICC per
feature across the primary rater's mask and its perturbations (axilla.mask_perturbation: subjects
= patients, "raters" = the primary mask, `~erode`, `~dilate`, `~contour1`, ... and, with kind
`ensemble`, each segmentation network's mask `~<network>` of the segmented views; Zwanenburg et al.
2019), for cohorts with one rater. Under `perturbation` real second raters are not used (pairs are
ignored): one source per study, so the filter means one thing. Its rows have kind `perturbation`
and pair = the raters joined by `-` (`A-~erode-~dilate-~contour1-...`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from .io import write_csv
from .mask_perturbation import KINDS, is_perturbation, rater_names

log = logging.getLogger(__name__)


def icc(ratings: np.ndarray, form: str = "ICC2", level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ICC with confidence interval for many features at once.

    Parameters
    ----------
    ratings : array (n_subjects, k_raters, n_features)
    form : "ICC2" (absolute agreement) or "ICC3" (consistency), single-rater forms.

    Returns
    -------
    icc, ci_low, ci_high : arrays of n_features
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim == 2:
        x = x[:, :, None]
    n, k, _ = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 subjects and 2 raters, got {n} and {k}")
    grand = x.mean(axis=(0, 1))
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum(axis=0)
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum(axis=0)
    ss_tot = ((x - grand) ** 2).sum(axis=(0, 1))
    ss_err = ss_tot - ss_rows - ss_cols
    df_r, df_c, df_e = n - 1, k - 1, (n - 1) * (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        msr, msc, mse = ss_rows / df_r, ss_cols / df_c, ss_err / df_e
        alpha = 1 - level
        f_obs = msr / mse
        if form == "ICC3":
            value = (msr - mse) / (msr + (k - 1) * mse)
            fl = f_obs / stats.f.ppf(1 - alpha / 2, df_r, df_e)
            fu = f_obs * stats.f.ppf(1 - alpha / 2, df_e, df_r)
            lo, hi = (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
        elif form == "ICC2":
            value = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
            # Satterthwaite-type df for the CI (Shrout & Fleiss eq. 12), as psych and pingouin.
            a = k * value / (n * (1 - value))
            b = 1 + k * value * (n - 1) / (n * (1 - value))
            v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / df_c + (b * mse) ** 2 / df_e)
            fs = stats.f.ppf(1 - alpha / 2, df_r, v)
            fi = stats.f.ppf(1 - alpha / 2, v, df_r)
            lo = n * (msr - fs * mse) / (fs * (k * msc + (k * n - k - n) * mse) + n * msr)
            hi = n * (fi * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fi * msr)
        else:
            raise ValueError(f"unknown ICC form '{form}' (ICC2 or ICC3)")
    # A feature constant across subjects and raters has no defined reliability.
    const = ss_tot == 0
    value, lo, hi = (np.where(const, np.nan, a_) for a_ in (value, lo, hi))
    return value, lo, hi


FORMS = ("ICC2", "ICC3")


def describe_source(settings) -> str:
    """What the ICC was computed over, for the report: `settings` is the study's Reproducibility."""
    if settings.source != "perturbation":
        return "rater pairs " + ", ".join("–".join(p) for p in settings.pairs)
    kinds, contours = settings.perturbation["kinds"], settings.perturbation["contours"]
    done = [w for k, w in (("erode", "erosion"), ("dilate", "dilation")) if k in kinds]
    parts = [" and ".join(done) + " by one voxel"] if done else []
    if "contour" in kinds:
        parts.append(f"{contours} contour randomisation{'s' if contours > 1 else ''}")
    if "ensemble" in kinds:
        parts.append("each segmentation network's own mask, for the segmented views")
    return ("the primary rater's mask and its perturbations (" + ", ".join(parts)
            + "; after Zwanenburg et al. 2019), no second rater")


def pair_kind(a: str, b: str) -> str:
    """`intra` for a rater and their own repeat (`A` vs `A2`), `inter` for two raters."""
    import re

    base = lambda r: re.sub(r"\d+$", "", r)  # noqa: E731
    return "intra" if base(a) == base(b) else "inter"


def feature_icc(by_rater: pd.DataFrame, pairs: list[tuple[str, str]], form: str) -> pd.DataFrame:
    """ICC per feature and rater pair from a table with one row per patient × rater.

    `icc, ci_low, ci_high` are the configured `form`; both single-rater forms are also given in
    full (`icc2*` absolute agreement, `icc3*` consistency), so the table shows what the choice
    of form changes.
    """
    if form not in FORMS:
        raise ValueError(f"unknown ICC form '{form}' (ICC2 or ICC3)")
    features = [c for c in by_rater.columns if c not in ("patient_id", "rater")]
    rows = []
    for a, b in pairs:
        xa = by_rater[by_rater.rater == a].set_index("patient_id")[features]
        xb = by_rater[by_rater.rater == b].set_index("patient_id")[features]
        common = xa.index.intersection(xb.index).sort_values()
        if len(common) < 3:
            log.warning("rater pair %s-%s: only %d patients in common, no ICC computed", a, b, len(common))
            continue
        r = np.stack([xa.loc[common].to_numpy(float), xb.loc[common].to_numpy(float)], axis=1)
        rows.append(_icc_rows(r, features, f"{a}-{b}", pair_kind(a, b), form))
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(rows, ignore_index=True)


COLUMNS = ["feature", "pair", "kind", "n", "form", "icc", "ci_low", "ci_high",
           "icc2", "icc2_ci_low", "icc2_ci_high", "icc3", "icc3_ci_low", "icc3_ci_high"]


def _icc_rows(r: np.ndarray, features: list[str], pair: str, kind: str, form: str) -> pd.DataFrame:
    """The table rows of one group of raters: `r` is (subjects, raters, features)."""
    t = pd.DataFrame({"feature": features, "pair": pair, "kind": kind, "n": r.shape[0], "form": form})
    for f in FORMS:
        value, lo, hi = icc(r, f)
        t[f.lower()], t[f"{f.lower()}_ci_low"], t[f"{f.lower()}_ci_high"] = value, lo, hi
    _absent_views(t, r, features)
    key = form.lower()
    t["icc"], t["ci_low"], t["ci_high"] = t[key], t[f"{key}_ci_low"], t[f"{key}_ci_high"]
    return t[COLUMNS]


def perturbation_icc(by_rater: pd.DataFrame, primary: str, form: str) -> pd.DataFrame:
    """ICC per feature across the primary rater's mask and its perturbations (the pseudo-raters
    in `by_rater`), in the table format of :func:`feature_icc`.

    Per view, the pseudo-raters that view has: the segmentation networks (`ensemble`) are raters
    of the segmented views only. A patient lacking one of the view's masks (an erosion skipped for
    a small ROI) is left out of that view's ICCs (`n` says how many remain): an ICC needs every
    subject rated by every rater.
    """
    if form not in FORMS:
        raise ValueError(f"unknown ICC form '{form}' (ICC2 or ICC3)")
    features = [c for c in by_rater.columns if c not in ("patient_id", "rater")]
    present = set(by_rater.rater)
    drawn = [r for r in rater_names(KINDS, len(present)) if r in present]
    pseudo = drawn + sorted(r for r in present if is_perturbation(r) and r not in drawn)
    others = sorted(r for r in present if r != primary and not is_perturbation(r))
    if others:
        log.info("reproducibility.source: perturbation: raters %s not used", ", ".join(others))
    xp = by_rater[by_rater.rater == primary].set_index("patient_id")[features].sort_index()
    if not pseudo or len(xp) < 3:
        log.warning("perturbation ICC: %d perturbations, %d patients of rater %s: no ICC computed", len(pseudo),
                    len(xp), primary)
        return pd.DataFrame(columns=COLUMNS)
    masks = {r: by_rater[by_rater.rater == r].set_index("patient_id")[features].reindex(xp.index) for r in pseudo}
    rows = []
    for cols in _view_columns(features).values():
        raters = [r for r in pseudo if masks[r][cols].notna().any(axis=None)]
        if not raters:
            continue
        stack = np.stack([xp[cols].to_numpy(float), *(masks[r][cols].to_numpy(float) for r in raters)], axis=1)
        rows.append(_icc_rows(stack, cols, "-".join([primary, *raters]), "perturbation", form))
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(rows, ignore_index=True)
    order = out.feature.map({f: i for i, f in enumerate(features)}).to_numpy()
    return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def _view_columns(features: list[str]) -> dict[str, list[str]]:
    """Feature columns by view (`<MOD>_<view>_...`), in table order."""
    out: dict[str, list[str]] = {}
    for f in features:
        out.setdefault("_".join(f.split("_", 2)[:2]), []).append(f)
    return out


def _absent_views(t: pd.DataFrame, r: np.ndarray, features: list[str]) -> None:
    """Patients without a view (validate.missing_view: allow) have none of its features: each such
    view's ICCs are recomputed, in place, on the patients having it (every feature of the view
    missing for a rater marks it absent; a single missing feature value still gives NaN)."""
    views = pd.Series(["_".join(f.split("_", 2)[:2]) for f in features])
    for view, idx in views.groupby(views).groups.items():
        idx = np.asarray(idx)
        present = ~np.isnan(r[:, :, idx]).all(axis=2).any(axis=1)
        if present.all():
            continue
        t.loc[idx, "n"] = int(present.sum())
        for f in FORMS:
            if present.sum() < 3:
                value = lo = hi = np.full(len(idx), np.nan)
            else:
                value, lo, hi = icc(r[present][:, :, idx], f)
            t.loc[idx, f.lower()], t.loc[idx, f"{f.lower()}_ci_low"], t.loc[idx, f"{f.lower()}_ci_high"] = value, lo, hi


def run(by_rater_csv: str, pairs: list, form: str, threshold: float, out_icc: str, out_keep: str,
        source: str = "raters", primary: str | None = None) -> None:
    """The `reproducibility` rule: ICC per feature; keep features reproducible in every rater pair
    (`source: raters`) or across the primary mask's perturbations (`source: perturbation`)."""
    by_rater = pd.read_csv(by_rater_csv, dtype={"patient_id": str, "rater": str})
    if source == "perturbation":
        table = perturbation_icc(by_rater, primary, form)
    else:
        table = feature_icc(by_rater[~by_rater.rater.map(is_perturbation)], [tuple(p) for p in pairs], form)
    features = [c for c in by_rater.columns if c not in ("patient_id", "rater")]
    if table.empty:
        log.warning("no rater pair has enough patients: every radiomics feature is kept unfiltered")
        keep = features
    else:
        # every pair must reach the threshold; an undefined ICC (feature constant) does not
        ok = (table.icc >= threshold).groupby(table.feature).all()
        keep = [f for f in features if ok.get(f, False)]
    write_csv(table, out_icc)
    write_csv(pd.DataFrame({"feature": keep}), out_keep)
    log.info("%s >= %.2f in all pairs: %d of %d features kept", form, threshold, len(keep), len(features))
