"""The per-feature ICC table (both forms, CIs, inter/intra pairs) and the configured filter."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from axilla import reproducibility as rep


def _pingouin(x: np.ndarray) -> dict:
    n, k = x.shape
    long = pd.DataFrame({"t": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "s": x.ravel()})
    res = pg.intraclass_corr(long, targets="t", raters="r", ratings="s").set_index("Type")
    return {"ICC2": res.loc["ICC(A,1)"], "ICC3": res.loc["ICC(C,1)"]}  # pingouin 0.7 names


def _table(rng):
    """12 patients rated by A, A's repeat A2 and B (B on 9 of them); three features:
    `agree` (small noise), `offset` (B and A2 = A + 3: consistent, not in absolute agreement),
    `flat` (constant: ICC undefined)."""
    truth = rng.normal(size=12) * 2
    rows = []
    for i, t in enumerate(truth):
        for rater in ("A", "A2", "B"):
            if rater == "B" and i >= 9:
                continue
            noise = rng.normal(scale=0.2)
            rows.append({"patient_id": f"P{i:02d}", "rater": rater, "agree": t + noise,
                         "offset": t + (0 if rater == "A" else 3.0) + 0.05 * noise, "flat": 1.0})
    return pd.DataFrame(rows)


def test_table_has_both_forms_equal_to_pingouin_per_pair():
    by_rater = _table(np.random.default_rng(5))
    table = rep.feature_icc(by_rater, [("A", "B"), ("A", "A2")], "ICC3")
    assert list(table.pair.unique()) == ["A-B", "A-A2"]
    assert dict(zip(table.pair, table.kind)) == {"A-B": "inter", "A-A2": "intra"}
    assert dict(zip(table.pair, table.n)) == {"A-B": 9, "A-A2": 12}
    for pair, (a, b) in {"A-B": ("A", "B"), "A-A2": ("A", "A2")}.items():
        for feat in ("agree", "offset"):
            xa = by_rater[by_rater.rater == a].set_index("patient_id")[feat]
            xb = by_rater[by_rater.rater == b].set_index("patient_id")[feat]
            common = xa.index.intersection(xb.index).sort_values()
            ref = _pingouin(np.c_[xa[common], xb[common]])
            row = table[(table.pair == pair) & (table.feature == feat)].iloc[0]
            for form in ("ICC2", "ICC3"):
                f = form.lower()
                assert row[f] == pytest.approx(ref[form]["ICC"], abs=1e-10)
                assert row[f"{f}_ci_low"] == pytest.approx(ref[form]["CI95"][0], abs=0.006)  # pingouin rounds CIs
                assert row[f"{f}_ci_high"] == pytest.approx(ref[form]["CI95"][1], abs=0.006)
            assert (row.icc, row.ci_low, row.ci_high) == (row.icc3, row.icc3_ci_low, row.icc3_ci_high)
    flat = table[table.feature == "flat"]
    assert flat[["icc2", "icc3", "icc"]].isna().all().all()


@pytest.mark.parametrize("form, kept", [("ICC3", ["agree", "offset"]), ("ICC2", ["agree"])])
def test_configured_form_and_threshold_filter(tmp_path, form, kept):
    by_rater = _table(np.random.default_rng(5))
    by_rater.to_csv(tmp_path / "by_rater.csv", index=False)
    rep.run(str(tmp_path / "by_rater.csv"), [["A", "B"], ["A", "A2"]], form, 0.9, str(tmp_path / "icc.csv"),
            str(tmp_path / "keep.csv"))
    table = pd.read_csv(tmp_path / "icc.csv")
    # a constant rater offset: consistency (ICC3) ~1, absolute agreement (ICC2) far below
    off = table[table.feature == "offset"]
    assert (off.icc3 > 0.99).all() and (off.icc2 < 0.5).all()
    assert set(table.form) == {form}
    assert pd.read_csv(tmp_path / "keep.csv").feature.tolist() == kept


def test_feature_failing_one_pair_is_dropped_and_unknown_form_rejected(tmp_path):
    by_rater = _table(np.random.default_rng(6))
    # reproducible between A and A2, not between A and B
    by_rater.loc[by_rater.rater == "B", "agree"] = np.random.default_rng(0).normal(size=9)
    by_rater.to_csv(tmp_path / "r.csv", index=False)
    rep.run(str(tmp_path / "r.csv"), [["A", "B"], ["A", "A2"]], "ICC3", 0.75, str(tmp_path / "i.csv"),
            str(tmp_path / "k.csv"))
    i = pd.read_csv(tmp_path / "i.csv").set_index(["feature", "pair"])
    assert i.loc[("agree", "A-A2"), "icc"] >= 0.75 > i.loc[("agree", "A-B"), "icc"]
    assert pd.read_csv(tmp_path / "k.csv").feature.tolist() == ["offset"]
    with pytest.raises(ValueError, match="unknown ICC form 'ICC1'"):
        rep.feature_icc(by_rater, [("A", "B")], "ICC1")


def test_pair_kind():
    assert rep.pair_kind("A", "A2") == "intra" and rep.pair_kind("B", "B3") == "intra"
    assert rep.pair_kind("A", "B") == "inter" and rep.pair_kind("A2", "B") == "inter"
