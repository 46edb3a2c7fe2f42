"""Report tables that are statistics in their own right: Table 1 with its group tests, the
odds-ratio table in a paper's layout, and the TRIPOD+AI checklist filled from what the pipeline knows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..settings import Study as Settings

TABLE1_COLUMNS = ["variable", "level", "negative", "positive", "p", "test"]
TODO = "to be completed by the authors"


def numeric_test(neg: np.ndarray, pos: np.ndarray, alpha: float = 0.05) -> tuple[float, str, bool]:
    """(p, test name, normal?): Student / Welch t-test when Shapiro–Wilk does not reject normality
    in either group (Levene chooses Student vs Welch), otherwise Mann–Whitney U (two-sided)."""
    neg, pos = neg[np.isfinite(neg)], pos[np.isfinite(pos)]
    if neg.size < 2 or pos.size < 2:
        return math.nan, "not tested (n < 2 in a group)", True
    normal = all(g.size >= 3 and np.ptp(g) > 0 and stats.shapiro(g).pvalue > alpha for g in (neg, pos))
    if normal:
        equal_var = stats.levene(neg, pos).pvalue > alpha
        p = stats.ttest_ind(neg, pos, equal_var=equal_var).pvalue
        return float(p), "Student t" if equal_var else "Welch t", True
    return float(stats.mannwhitneyu(neg, pos, alternative="two-sided").pvalue), "Mann–Whitney U", False


def categorical_test(table: np.ndarray) -> tuple[float, str]:
    """χ² (Yates-corrected for 2×2) when every expected count is ≥ 5; Fisher's exact test for a
    2×2 table with a smaller expected count; χ² flagged as approximate for larger such tables."""
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return math.nan, "not tested (one level)"
    chi2, p, _, expected = stats.chi2_contingency(table)
    if (expected >= 5).all():
        return float(p), "χ²"
    if table.shape == (2, 2):
        return float(stats.fisher_exact(table).pvalue), "Fisher exact"
    return float(p), "χ² (expected < 5)"


def table_one(df: pd.DataFrame, y: pd.Series, variables: dict[str, str]) -> pd.DataFrame:
    """Table 1 by outcome: numeric as mean ± SD (normal) or median [IQR]; categorical as n (%) per
    level of the non-missing values; one p-value per variable from the tests above."""
    y = np.asarray(y).astype(int)
    rows = []

    def pct(k, n):
        return f"{k} ({100 * k / n:.1f} %)" if n else "0"

    for var, kind in variables.items():
        if var not in df.columns:
            continue
        col = df[var]
        if kind == "numeric":
            x = pd.to_numeric(col, errors="coerce").to_numpy(float)
            neg, pos = x[y == 0], x[y == 1]
            p, test, normal = numeric_test(neg, pos)

            def summ(g):
                g = g[np.isfinite(g)]
                if not g.size:
                    return ""
                if normal:
                    return f"{g.mean():.1f} ± {g.std(ddof=1) if g.size > 1 else 0:.1f}"
                q1, med, q3 = np.percentile(g, [25, 50, 75])
                return f"{med:.1f} [{q1:.1f}, {q3:.1f}]"

            rows.append({"variable": var, "level": "mean ± SD" if normal else "median [IQR]",
                         "negative": summ(neg), "positive": summ(pos), "p": p, "test": test})
        else:
            s = col.astype("string")
            ok = s.notna().to_numpy()
            levels = sorted(s[ok].unique(), key=str)
            tab = np.array([[int(((s == lv).fillna(False).to_numpy() & (y == c)).sum()) for c in (0, 1)]
                            for lv in levels])
            p, test = categorical_test(tab) if len(levels) else (math.nan, "")
            n0, n1 = int((ok & (y == 0)).sum()), int((ok & (y == 1)).sum())
            for i, lv in enumerate(levels):
                rows.append({"variable": var if i == 0 else "", "level": str(lv), "negative": pct(tab[i, 0], n0),
                             "positive": pct(tab[i, 1], n1), "p": p if i == 0 else math.nan,
                             "test": test if i == 0 else ""})
    return pd.DataFrame(rows, columns=TABLE1_COLUMNS)


def _or_text(v: float) -> str:
    if not np.isfinite(v):
        return "∞" if v > 0 else "NA"
    if v == 0:
        return "0"
    return f"{v:.2f}" if 0.01 <= v < 1000 else f"{v:.2e}"


def odds_table(t: pd.DataFrame) -> pd.DataFrame:
    """A paper's layout of axilla.interpret.ODDS_COLUMNS: characteristic, then OR (95 % CI) and p
    of the univariable and of the multivariable analysis side by side (NA = not in it)."""
    terms = list(dict.fromkeys(t.loc[t.term != "(intercept)", "term"]))
    out = pd.DataFrame({"characteristic": terms})
    for a, label in (("univariate", "univariable"), ("multivariable", "multivariable")):
        part = t[t.analysis == a].set_index("term")
        if part.empty:
            continue
        out[f"{label} OR (95 % CI)"] = [
            f"{_or_text(part.at[k, 'odds_ratio'])} ({_or_text(part.at[k, 'or_ci_low'])}–"
            f"{_or_text(part.at[k, 'or_ci_high'])})" if k in part.index else "NA" for k in terms]
        out[f"{label} p"] = [("<0.001" if part.at[k, "p"] < 0.001 else f"{part.at[k, 'p']:.3f}")
                             if k in part.index and np.isfinite(part.at[k, "p"]) else "NA" for k in terms]
        if a == "multivariable" and "vif" in part and part["vif"].notna().any():
            out["VIF"] = [f"{part.at[k, 'vif']:.2f}" if k in part.index and np.isfinite(part.at[k, "vif"]) else ""
                          for k in terms]
    if "per" in t and t["per"].notna().any():
        pers = t.dropna(subset=["per"]).groupby("analysis", sort=False)["per"].first()
        out["OR per"] = ("1 " + pers.iloc[0] if pers.nunique() == 1
                         else "; ".join(f"{a.replace('univariate', 'univariable')}: 1 {v}" for a, v in pers.items()))
    return out


def _tripod_data(st: Settings, counts: pd.DataFrame) -> list[tuple]:
    """TRIPOD+AI items on the data: title to missing data."""
    cohorts = "; ".join(f"{r.cohort}: {r.patients} patients, {r.positive} node positive"
                        for r in counts.itertuples())
    views = "; ".join(f"{m}: {', '.join(v)}" for m, v in st.views.items())
    return [
        ("Title / abstract", "Development and validation of a prediction model", TODO, False),
        ("Objectives", "Outcome predicted", f"axillary lymph-node status (column '{st.outcome}', 0/1)", True),
        ("Data sources", "Cohorts and data", ("built-in synthetic demo cohort" if st.manifest is None
                                              else f"manifest {st.manifest}, clinical table {st.clinical}"),
         True),
        ("Participants", "Cohorts, sizes and outcome counts", cohorts, True),
        ("Data preparation", "Image preprocessing and features",
         f"images {views}; preprocessing per modality (N4, resampling, normalisation) as configured; "
         f"pyradiomics features with ICC ≥ {st.reproducibility.threshold}"
         f"{' across mask perturbations' if st.reproducibility.source == 'perturbation' else ''} kept; deep features "
         f"from {', '.join(sorted({b for m in st.views for b in st.deep.candidates(m)}))} "
         f"(weights: {st.deep.weights['source']})", True),
        ("Outcome", "Definition and blinding", "pathological node status as given in the clinical table; "
         "blinding of outcome assessment: " + TODO, True),
        ("Predictors", "Candidate predictors", f"clinical variables {', '.join(st.clinical_variables) or 'none'}; "
         "radiomics and deep features as above", True),
        ("Sample size", "Justification", TODO, False),
        ("Missing data", "Handling", "clinical: training-cohort median / mode imputation; images: none allowed "
         "(validation stops the run)", True),
    ]


def _tripod_methods(st: Settings, has: dict[str, bool]) -> list[tuple]:
    """TRIPOD+AI items on the analysis: partitioning to training vs evaluation."""
    split, ext = st.split, st.split.external
    feature_sets = "; ".join(f"{m}: " + (", ".join(s.features) if s.kind != "fusion" else
                                          "post-fusion of " + ", ".join(s.fuse))
                             for m, s in st.models.items())
    return [
        ("Analytical methods", "Data partitioning",
         (f"stratified random split, {split.test_fraction:.0%} internal hold-out" if split.method == "random"
          else f"fixed column '{split.column}'") +
         (f"; external cohort {ext['column']} ∈ {ext['values']}" if ext else "") + "; patient level", True),
        ("Analytical methods", "Feature selection and model",
         f"selection chain {' → '.join(st.select['steps'])} fitted on the training cohort only; "
         f"logistic regression models: {feature_sets}", True),
        ("Analytical methods", "Performance measures",
         "AUC with DeLong 95 % CI; accuracy, sensitivity, specificity, PPV, NPV (Wilson 95 % CIs), F1 at the "
         "training Youden cut-off; Brier score; calibration intercept/slope, Hosmer–Lemeshow; DeLong, NRI, IDI between "
         "models; decision and clinical impact curves", True),
        ("Analytical methods", "Internal validation",
         "Harrell bootstrap optimism correction" if has.get("optimism") else "hold-out only", True),
        ("Class imbalance", "Methods", "none (logistic regression on the observed prevalence)", True),
        ("Fairness", "Subgroup performance", TODO, False),
        ("Model output", "Form", "predicted probability; positive call at p ≥ training Youden cut-off", True),
        ("Training vs evaluation", "Differences", "cohorts as above; the same preprocessing and features", True),
    ]


def _tripod_reporting(st: Settings, has: dict[str, bool]) -> list[tuple]:
    """TRIPOD+AI items on open science and results: ethics to discussion."""
    return [
        ("Ethics, funding, conflicts, protocol, registration", "—", TODO, False),
        ("Data sharing", "—", TODO, False),
        ("Code sharing", "Software", f"axilla pipeline; configuration, seed {st.seed} and versions under "
         "Provenance", True),
        ("Patient and public involvement", "—", TODO, False),
        ("Results: participants", "Flow and characteristics", "Cohort flow and Table 1 above", True),
        ("Results: model development", "Final model specification",
         "coefficients and score formulas above" + ("; nomogram" if has.get("nomogram") else ""), True),
        ("Results: model performance", "With confidence intervals", "model tables, ROC, calibration, DCA above",
         True),
        ("Results: reader comparison", "Readers vs model",
         "reader study above" if has.get("readers") else "no readers configured", has.get("readers", False)),
        ("Discussion", "Interpretation, limitations, usability", TODO, False),
    ]


def tripod_ai(st: Settings, counts: pd.DataFrame, has: dict[str, bool]) -> pd.DataFrame:
    """TRIPOD+AI (Collins et al., BMJ 2024) topics with what this run can state; the rest is left
    to the authors. `counts`: cohort, patients, positive; `has`: which optional analyses ran."""
    items = _tripod_data(st, counts) + _tripod_methods(st, has) + _tripod_reporting(st, has)
    return pd.DataFrame(items, columns=["section", "item", "answer", "filled"])
