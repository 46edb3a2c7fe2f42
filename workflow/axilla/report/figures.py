"""Report figures (matplotlib, Agg), each a pure function of result tables returning a Figure.

Sizes and fonts are chosen so that, embedded at their natural size, text is legible at 100 %
zoom: figures are at most ~1000 px wide at the report's dpi and no text is below 9 pt.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "legend.fontsize": 9,
                     "xtick.labelsize": 9, "ytick.labelsize": 9, "svg.hashsalt": "axilla"})

REFERENCE_STYLE = {"treat_all": dict(color="0.35", ls="--", lw=1.2), "treat_none": dict(color="0.0", ls=":", lw=1.2)}


def roc(pred: pd.DataFrame, models: list[str], metrics: pd.DataFrame, title: str):
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5.4, 5.2))
    met = metrics.set_index("model")
    for m in models:
        fpr, tpr, _ = roc_curve(pred["y"], pred[m])
        a = met.loc[m]
        ax.plot(fpr, tpr, lw=1.8, label=f"{m}: {a.auc:.3f} ({a.auc_ci_low:.3f}–{a.auc_ci_high:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", title="AUC (95 % CI, DeLong)", title_fontsize=9)
    ax.set_aspect("equal")
    return fig


def reader_points(pred: pd.DataFrame, model: str, readers: pd.DataFrame, title: str):
    """A model's ROC curve with each reader's operating point (sensitivity, 1 - specificity at the
    reading threshold); an arrow joins reader R to "R_ai", the same reader assisted by the model."""
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5.4, 5.2))
    fpr, tpr, _ = roc_curve(pred["y"], pred[model])
    ax.plot(fpr, tpr, lw=1.8, color="C0", label=f"{model} (ROC)")
    pts = {r.reader: (1 - r.specificity, r.sensitivity) for r in readers.itertuples()}
    unaided = {n: n[:-3] for n in pts if n.endswith("_ai") and n[:-3] in pts}  # R_ai -> R
    colours = {b: f"C{(i + 1) % 10}" for i, b in enumerate(dict.fromkeys(unaided.get(n, n) for n in pts))}
    for name, (x, y) in pts.items():
        colour = colours[unaided.get(name, name)]
        # one colour per reader: open circle unaided, filled with the model's help
        ax.plot(x, y, marker="o", ls="none", ms=8, mew=2, color=colour, label=name,
                markerfacecolor="white" if name in unaided.values() else colour)
        if name in unaided:
            x0, y0 = pts[unaided[name]]
            ax.annotate("", xy=(x, y), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="0.3", lw=1.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=9)
    ax.set_aspect("equal")
    return fig


def pairwise_heatmaps(pairwise: pd.DataFrame, models: list[str], title: str):
    """Three panels (DeLong p, NRI, IDI); cell (row b, column a) = model b over model a."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), constrained_layout=True)
    k = len(models)
    for ax, (col, label, cmap, vlim) in zip(axes, [
        ("delong_p", "DeLong p (row vs column)", "viridis_r", (0, 1)),
        ("nri", "continuous NRI (row over column)", "RdBu", None),
        ("idi", "IDI (row over column)", "RdBu", None),
    ]):
        mat = np.full((k, k), np.nan)
        for r in pairwise.itertuples(index=False):
            a, b = models.index(r.model_a), models.index(r.model_b)
            v = getattr(r, col)
            mat[b, a] = v
            mat[a, b] = v if col == "delong_p" else -v  # a over b is the negative of b over a
        if vlim is None:
            lim = np.nanmax(np.abs(mat)) if np.isfinite(mat).any() else 1.0
            vlim = (-lim or -1, lim or 1)
        im = ax.imshow(mat, cmap=cmap, vmin=vlim[0], vmax=vlim[1])
        for i in range(k):
            for j in range(k):
                if np.isfinite(mat[i, j]):
                    # white text only on the dark ends of each colour map
                    dark = mat[i, j] > 0.6 if col == "delong_p" else abs(mat[i, j]) > 0.6 * vlim[1]
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=9,
                            color="white" if dark else "black")
        ax.set_xticks(range(k), models, rotation=35, ha="right")
        ax.set_yticks(range(k), models)
        ax.set_title(label)
        fig.colorbar(im, ax=ax, shrink=0.75)
    fig.suptitle(title)
    return fig


def calibration(pred: pd.DataFrame, models: list[str], title: str, bins: int = 5):
    """Observed event rate vs mean predicted probability in quantile bins of each model."""
    from sklearn.calibration import calibration_curve

    fig, ax = plt.subplots(figsize=(5.4, 5.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="ideal")
    for m in models:
        obs, mean_p = calibration_curve(pred["y"], pred[m], n_bins=bins, strategy="quantile")
        ax.plot(mean_p, obs, marker="o", lw=1.5, label=m)
    ax.set(xlabel="predicted probability", ylabel="observed proportion", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    ax.set_aspect("equal")
    return fig


def decision_curves(dca: pd.DataFrame, title: str):
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, g in dca.groupby("model", sort=False):
        ax.plot(g["threshold"], g["net_benefit"], label=name.replace("_", " "),
                **REFERENCE_STYLE.get(name, dict(lw=1.6)))
    prev = dca.loc[dca["model"] == "treat_all", "net_benefit"].max()
    ax.set(xlabel="threshold probability", ylabel="net benefit", title=title, xlim=(0, 1),
           ylim=(-0.05, max(0.05, prev * 1.1)))
    ax.legend(loc="upper right")
    return fig


def net_reduction(table: pd.DataFrame, title: str):
    """Net reduction in interventions per 100 patients of each model (metrics/<cohort>_interventions.csv)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, g in table.groupby("model", sort=False):
        ax.plot(g["threshold"], g["net_reduction_per_100"], label=name.replace("_", " "), lw=1.6)
    ax.axhline(0, color="0.35", ls="--", lw=1.2, label="operate on all")
    top = table["net_reduction_per_100"].max() if len(table) else 0
    ax.set(xlabel="threshold probability", ylabel="net reduction in interventions per 100", title=title,
           xlim=(0, 1), ylim=(-10, max(10, top * 1.1)))
    ax.legend(loc="upper left")
    return fig


def clinical_impact(dca: pd.DataFrame, model: str, title: str):
    g = dca[dca["model"] == model]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(g["threshold"], g["high_risk_per_1000"], color="C3", lw=1.8, label="number high risk")
    ax.plot(g["threshold"], g["high_risk_events_per_1000"], color="C0", ls="--", lw=1.8,
            label="number high risk with event")
    ax.set(xlabel="threshold probability", ylabel="per 1000 patients", title=f"{title}: {model}",
           xlim=(0, 1), ylim=(0, 1000))
    ax.legend(loc="upper right")
    return fig


def waterfall(pred: pd.DataFrame, model: str, threshold: float, title: str):
    """One bar per patient: predicted probability minus the training cut-off, sorted, coloured by outcome."""
    d = (pred[model] - threshold).to_numpy()
    order = np.argsort(-d, kind="stable")
    y = pred["y"].to_numpy()[order]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ax.bar(np.arange(d.size), d[order], color=np.where(y == 1, "C3", "C0"), width=0.85)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="patients (sorted)", ylabel=f"p − cut-off ({threshold:.3f})", title=f"{title}: {model}")
    ax.set_xticks([])
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="C3", label="node positive"), Patch(color="C0", label="node negative")],
              loc="upper right")
    return fig


def bar_importance(table: pd.DataFrame, value: str, title: str, top: int = 15):
    t = table.reindex(table[value].abs().sort_values(ascending=False).index).head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(t) + 1.2))
    ax.barh([str(f)[:60] for f in t.iloc[:, 0]], t[value], color=np.where(t[value] >= 0, "C3", "C0"))
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel=value, title=title)
    return fig


def lasso_path(path: pd.DataFrame, cv: pd.DataFrame | None, title: str):
    """Coefficient path (`log_lambda, feature, coef`) and CV curve (`log_lambda, cv_mean, cv_se, chosen`)."""
    panels = 2 if cv is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.2), constrained_layout=True, squeeze=False)
    for feat, g in path.groupby("feature"):
        axes[0, 0].plot(g["log_lambda"], g["coef"], lw=1)
    axes[0, 0].set(xlabel="log λ", ylabel="coefficient", title=f"{title}: coefficient path")
    if cv is not None:
        ax = axes[0, 1]
        ax.errorbar(cv["log_lambda"], cv["cv_mean"], yerr=cv["cv_se"], fmt="o", ms=3, color="C3", ecolor="0.6")
        for r in cv[cv["chosen"].fillna("").astype(str) != ""].itertuples():
            ax.axvline(r.log_lambda, ls="--", color="k", lw=1)
            ax.annotate(f"λ {r.chosen}", (r.log_lambda, ax.get_ylim()[1]), fontsize=9, va="top")
        ax.set(xlabel="log λ", ylabel="CV deviance", title=f"{title}: cross-validation")
    return fig


def icc_histogram(icc: pd.DataFrame, threshold: float):
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for pair, g in icc.groupby("pair"):
        ax.hist(g["icc"].dropna().clip(-0.2, 1), bins=40, alpha=0.55, label=pair)
    ax.axvline(threshold, color="k", ls="--", lw=1)
    ax.set(xlabel="ICC per radiomics feature", ylabel="features")
    ax.legend()
    return fig


def forest(odds: pd.DataFrame, title: str):
    """Odds ratios with 95 % CIs on a log axis, one panel per analysis (univariable, multivariable);
    `odds` as axilla.interpret.ODDS_COLUMNS. Infinite or degenerate intervals are drawn to the edge."""
    analyses = [a for a in ("univariate", "multivariable") if (odds.analysis == a).any()]
    terms = list(dict.fromkeys(odds.loc[odds.term != "(intercept)", "term"]))
    fig, axes = plt.subplots(1, len(analyses), figsize=(5.2 * len(analyses), 0.32 * len(terms) + 1.4),
                             sharey=True, squeeze=False, constrained_layout=True)
    ypos = {t: i for i, t in enumerate(terms[::-1])}
    for ax, a in zip(axes[0], analyses):
        t = odds[(odds.analysis == a) & (odds.term != "(intercept)")]
        vals = t[["odds_ratio", "or_ci_low", "or_ci_high"]].to_numpy(float)
        finite = vals[np.isfinite(vals) & (vals > 0)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.1, 10.0)
        lo, hi = min(lo, 0.5) / 1.5, max(hi, 2.0) * 1.5
        lo, hi = max(lo, 1e-3), min(hi, 1e3)
        for r in t.itertuples():
            y = ypos[r.term]
            ci = np.clip(np.nan_to_num([r.or_ci_low, r.or_ci_high], nan=lo, posinf=hi, neginf=lo), lo, hi)
            ax.plot(ci, [y, y], color="0.3", lw=1.4)
            ax.plot(np.clip(r.odds_ratio, lo, hi), y, "s", color="C3" if r.p < 0.05 else "C0", ms=5)
        ax.axvline(1, color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        ticks = [v for v in (0.001, 0.01, 0.1, 0.2, 0.5, 1, 2, 5, 10, 100, 1000) if lo <= v <= hi]
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        word = {"univariate": "univariable"}.get(a, a)
        ax.set(xlim=(lo, hi), xlabel="odds ratio (95 % CI; red: p < 0.05)", title=f"{title}: {word}")
    axes[0, 0].set_yticks(range(len(terms)), [str(s)[:40] for s in terms[::-1]])
    return fig


def cohort_flow(sources: list[tuple[str, int]], excluded: list[tuple[str, int]], n_excluded: int,
                cohorts: pd.DataFrame, kept_without: list[tuple[str, int]] = ()):
    """CONSORT-style flow (the seeds' Figure 1): the input tables' patients -> assessed -> excluded
    by problem class (a patient may count under several) -> analysed (with those kept although
    views are absent, `kept_without`: (subgroup, n)) -> each cohort with its node-positive count.
    `cohorts` as Study.counts() (cohort, patients, positive)."""
    analysed = int(cohorts.patients.sum())
    fig, ax = plt.subplots(figsize=(max(7.0, 2.4 * len(cohorts)), 5.6))
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.axis("off")
    style = dict(ha="center", va="center", fontsize=10, bbox=dict(boxstyle="round,pad=0.5", fc="#f3f6fa", ec="0.3"))
    arrow = dict(arrowstyle="->", color="0.3", lw=1.2)

    def box(x, y, text, **kw):
        return ax.text(x, y, text, **{**style, **kw})

    def join(a, b, start=(0.5, 0), end=(0.5, 1)):
        ax.annotate("", xy=end, xycoords=b, xytext=start, textcoords=a, arrowprops=arrow)

    assessed = box(0.38, 0.7, f"Patients assessed\nn = {analysed + n_excluded}")
    for i, (label, n) in enumerate(sources):
        join(box(0.38 + (i - (len(sources) - 1) / 2) * 0.34, 0.93, f"{label}\nn = {n} patients"), assessed)
    kept = "".join(f"\nof whom {n} {label}" for label, n in kept_without)
    done = box(0.38, 0.36, f"Analysed\nn = {analysed}{kept}", fontweight="bold")
    join(assessed, done)
    lines = "".join(f"\n• {label}: {n}" for label, n in excluded)
    gone = box(0.62, 0.53, f"Excluded\nn = {n_excluded}{lines}", ha="left")
    ax.annotate("", xy=(0, 0.5), xycoords=gone, xytext=(0.38, 0.53), textcoords="data", arrowprops=arrow)
    for i, r in enumerate(cohorts.itertuples(index=False)):
        join(done, box((i + 0.5) / len(cohorts), 0.08, f"{r.cohort}\nn = {int(r.patients)}\n"
                                                     f"node-positive {int(r.positive)}"))
    return fig
