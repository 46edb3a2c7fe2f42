"""Every preset's training stage (split → select → train → post-fusion) runs on a small synthetic
cohort shaped like the demo's tables, and produces the artefacts the report needs."""

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from axilla import nomogram, select, settings, split
from axilla.features import BLOOD_INDICES
from axilla import interpret
from axilla.features import load_feature_tables
from axilla.train import run_feature_model, run_fusion_model
from test_no_leakage import selection_model

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "config" / "presets").glob("*.yaml"))
QUICK = ROOT / "config" / "quick.yaml"
VIEWS = ["MG_CC", "MG_MLO", "MRI_T2", "MRI_DWI", "MRI_ADC", "MRI_DCE1", "MRI_DCE2", "US_tumor", "US_node",
         "MRI_DCE3", "MRI_DCE4"]  # last: the draws of the views above stay as they were


def _cohort(tmp, n=70, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.45).astype(int)
    ids = [f"D{i:03d}" for i in range(n)]
    dates = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365, n), unit="D")
    clin = pd.DataFrame({"patient_id": ids, "ln_status": y, "center": np.where(rng.random(n) < 0.2, "B", "A"),
                         "exam_date": dates.strftime("%Y-%m-%d"),
                         "age": np.round(55 + 8 * rng.normal(size=n) - 4 * y), "bmi": 24 + 3 * rng.normal(size=n),
                         "tumor_diameter_mm": 20 + 6 * rng.normal(size=n) + 6 * y, "ki67": 20 + 10 * rng.random(n),
                         "neutrophils": 3.6 + 0.5 * rng.normal(size=n) + 0.6 * y,
                         "lymphocytes": 1.9 + 0.3 * rng.normal(size=n), "platelets": 250 + 30 * rng.normal(size=n),
                         "monocytes": 0.45 + 0.05 * rng.normal(size=n), "wbc": 6 + rng.normal(size=n)})
    for c, levels in {"shape": ["round", "oval", "irregular"], "margin": ["circumscribed", "spiculated"],
                      "birads": ["4a", "4b", "5"], "er": ["0", "1"], "pr": ["0", "1"], "her2": ["0", "1"],
                      "grade": ["1", "2", "3"], "histology": ["IDC", "ILC"], "imaging_node": ["0", "1"],
                      "laterality": ["L", "R"]}.items():
        clin[c] = np.array(levels)[rng.integers(0, len(levels), n)]
    clin.loc[y == 1, "imaging_node"] = np.where(rng.random((y == 1).sum()) < 0.7, "1", "0")
    # A missing count and a recorded zero lymphocyte count: imputed inside training, never fatal.
    clin.loc[3, "platelets"] = np.nan
    clin.loc[5, "lymphocytes"] = 0.0
    rad = {"patient_id": ids}
    deep = {"patient_id": ids}
    for v in VIEWS:
        for j in range(4):
            rad[f"{v}_original_firstorder_f{j}"] = rng.normal(size=n) + (0.9 * y if j < 2 else 0)
            deep[f"{v}_deep_{j}"] = rng.normal(size=n) + (0.7 * y if j == 0 else 0)
    paths = {"clinical": tmp / "clinical.csv", "radiomics": tmp / "radiomics.csv", "deep": tmp / "deep.csv",
             "reproducible": tmp / "keep.csv"}
    clin.to_csv(paths["clinical"], index=False)
    pd.DataFrame(rad).to_csv(paths["radiomics"], index=False)
    pd.DataFrame(deep).to_csv(paths["deep"], index=False)
    pd.DataFrame({"feature": [c for c in rad if c != "patient_id"]}).to_csv(paths["reproducible"], index=False)
    return clin, paths


def _fast(settings):
    """Fewer CV folds so the test takes seconds; the step sequence is the preset's."""
    s = copy.deepcopy(settings)
    if "mrmr" in s:
        s["mrmr"].update(k=min(s["mrmr"].get("k", 20), 6))
    if "lasso" in s:
        s["lasso"].update(folds=3, repeats=1, n_lambda=15)
    if "lgbm" in s:
        s["lgbm"].update(folds=3, max_features=3, n_estimators=20)
    return s


def _one_point(learner: str) -> dict:
    from axilla.models import ZOO

    return {k: v[:1] for k, v in ZOO[learner][1].items()}


def with_quick(cfg: dict) -> dict:
    """The preset with config/quick.yaml merged in, as Snakemake merges a second --configfile."""
    from snakemake.utils import update_config

    cfg = copy.deepcopy(cfg)
    update_config(cfg, yaml.safe_load(QUICK.read_text()))
    return cfg


def representative(models: dict) -> dict:
    """The fewest models of a learner × feature-set grid that cover every learner and every
    feature set (seed 001: 8 learners × 3 sets → 8), chosen greedily as a set cover in config
    order, with every model that is fused or scored and every fusion model; kept in config order."""
    needed = {b for spec in models.values() for b in [*spec.get("fuse", []), *spec.get("scores", [])]}

    def covers(spec):
        learner = (spec.get("classifier") or {}).get("name", "lr")
        inputs = json.dumps([spec.get(k) for k in ("features", "scores", "select", "fuse")], sort_keys=True)
        return {("learner", learner), ("inputs", inputs)}

    chosen = {m for m, spec in models.items() if m in needed or "fuse" in spec}
    todo = set().union(*(covers(spec) for spec in models.values())) - set().union(
        *(covers(models[m]) for m in chosen))
    while todo:  # the model covering most of what is left; ties: the first in config order
        best = max(models, key=lambda m: len(covers(models[m]) & todo))
        chosen.add(best)
        todo -= covers(models[best])
    return {m: spec for m, spec in models.items() if m in chosen}


def run_training_stage(cfg: dict, tmp: Path) -> dict:
    clin, paths = _cohort(tmp)
    st = settings.load(cfg)
    sp = split.assign(clin, cfg["outcome"], st.split, cfg["seed"])
    assert set(sp.cohort) == set(split.planned_cohorts(st.split))
    paths["split"] = tmp / "split.csv"
    sp.to_csv(paths["split"], index=False)
    out = {}
    models = representative(cfg["models"])
    todo = [m for m in models if "fuse" not in models[m]]
    done = set()
    while todo:  # score-fusion models after their base models
        m = next(m for m in todo if set(models[m].get("scores", [])) <= done)
        spec = copy.deepcopy(models[m])
        if "select" in spec:
            spec["select"] = _fast(spec["select"])
        if spec.get("classifier", {}).get("tune"):  # the tuning path, on one point of the learner's grid
            spec["classifier"]["tune"] = {"folds": 3, "repeats": 1, "grid": _one_point(spec["classifier"]["name"])}
        d = tmp / m
        d.mkdir()
        inputs = {k: str(v) for k, v in paths.items()}
        inputs.update({f"score_{b}": str(tmp / b / "pred.csv") for b in spec.get("scores", [])})
        features = spec.get("features", [])
        X, kinds, s = load_feature_tables(inputs, features, cfg["clinical_variables"], cfg.get("blood"))
        for f in features:  # derived indices arrive as numeric clinical variables
            if f.startswith("blood"):
                names = [f.partition(":")[2]] if ":" in f else list(BLOOD_INDICES)
                assert all(kinds[n] == "numeric" for n in names) and X[names].notna().sum().min() > 0
                assert X.loc["D005", names].isna().all()  # the zero lymphocyte count, left to imputation
        select.run(selection_model(kinds, _fast(cfg["select"]), cfg["seed"], spec), X, s, d / "sel.pkl",
                   d / "selected.csv", d / "funnel.csv")
        run_feature_model(X, s, str(d / "sel.pkl"), cfg["seed"], d / "model.pkl", d / "pred.csv")
        interpret.run_feature_model(str(d / "model.pkl"), X, s, cfg["seed"], m,
                                    interpret.feature_sources(features), interpret.Outputs.under(d))
        if spec.get("nomogram"):
            nomogram.run(str(d / "model.pkl"), str(d / "nomogram.csv"), str(d / "nomogram.png"))
        out[m] = d
        done.add(m)
        todo.remove(m)
    for m, spec in models.items():
        if "fuse" in spec:
            d = tmp / m
            d.mkdir()
            run_fusion_model({b: str(tmp / b / "pred.csv") for b in spec["fuse"]}, cfg["seed"], d / "model.pkl",
                             d / "pred.csv", spec.get("meta", "lr"))
            out[m] = d
    return out


def test_five_presets_exist():
    assert {p.stem for p in PRESETS} == {"mg_postfusion", "mg_mri_zoo", "us_tumor_node", "us_dl_signature",
                                         "dce_rad_dl_sii"}


def test_presets_use_every_feature_source():
    from axilla.features import SOURCES

    used = {f.partition(":")[0] for p in PRESETS for spec in yaml.safe_load(p.read_text())["models"].values()
            for f in spec.get("features", [])}
    assert used == set(SOURCES)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_training_stage(preset, tmp_path):
    from axilla.config import check

    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    faithful = yaml.safe_load(preset.read_text())
    check(faithful, schema, preset.name)
    cfg = with_quick(faithful)  # what the quick run uses: valid, and the same models and steps
    check(cfg, schema, f"{preset.name} + quick.yaml")
    assert cfg["models"] == faithful["models"] and cfg["select"]["steps"] == faithful["select"]["steps"]
    out = run_training_stage(cfg, tmp_path)
    assert set(out) == set(representative(cfg["models"]))
    for m, d in out.items():
        pred = pd.read_csv(d / "pred.csv")
        train = pred[pred.cohort == "train"]
        assert pred.prob.between(0, 1).all() and train.oof_prob.notna().all()
        assert pred[pred.cohort != "train"].oof_prob.isna().all()
        if "features" in cfg["models"][m]:
            funnel = pd.read_csv(d / "funnel.csv")
            steps = (cfg["models"][m].get("select") or cfg["select"])["steps"]
            assert funnel.step.tolist() == ["input", *steps]
            assert (funnel.n_out.iloc[1:].to_numpy() <= funnel.n_in.iloc[1:].to_numpy()).all()
            summary = json.loads((d / "summary.json").read_text())
            assert summary["selected"] == pd.read_csv(d / "selected.csv").feature.tolist()
            if "lasso" in steps:  # the score is the LASSO linear predictor, formula written out
                assert "score" in pred and summary["score"]["formula"].startswith(f"{m}_score = ")
            if cfg["models"][m].get("nomogram"):
                assert (d / "nomogram.png").stat().st_size > 0
            if "stepwise" in steps:
                odds = pd.read_csv(d / "odds_ratios.csv")
                assert {"univariate", "multivariable"} <= set(odds.analysis)
