"""The synthetic demo cohort: format contract, determinism, geometry, raters, clinical ranges."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from axilla import demo
from axilla.errors import InputError

N = 10  # small cohorts keep generation tests to a few seconds


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """Two runs with seed 42 (serial, and with two worker processes) and one with seed 7."""
    root = tmp_path_factory.mktemp("demo")
    out = {}
    for name, seed, workers in (("a", 42, 1), ("b", 42, 2), ("c", 7, 1)):
        demo.generate(root / name, n_patients=N, seed=seed, rater_fraction=0.3, workers=workers)
        out[name] = root / name
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


# ---------------------------------------------------------------------------------------------
# plan


def test_plan_is_cheap():
    demo.plan(120, 42, 0.3)  # warm imports
    best = min(_timed(lambda: demo.plan(120, 42, 0.3)) for _ in range(3))
    assert best < 0.05, f"plan() took {best * 1e3:.1f} ms for 120 patients"


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_plan_layout():
    m = demo.plan(120, 42, 0.3)
    assert list(m.columns) == ["patient_id", "modality", "view", "image", "mask", "rater"]
    ids = m.patient_id.unique().tolist()
    assert ids[0] == "P001" and ids[-1] == "P120" and len(ids) == 120
    assert set(m.modality) == {"MG", "MRI", "US"}
    row = m[(m.patient_id == "P001") & (m.view == "T2") & (m.rater == "A")].iloc[0]
    assert row.image == "images/P001/MRI_T2.nii.gz" and row["mask"] == "masks/P001/MRI_T2_A.nii.gz"
    # sorted by patient, modality, view in VIEWS order, rater
    order = {(mod, v): i for i, (mod, v) in enumerate((mod, v) for mod, vs in demo.VIEWS.items() for v in vs)}
    key = list(zip(m.patient_id, m.modality.combine(m.view, lambda a, b: order[(a, b)]), m.rater))
    assert key == sorted(key)
    # every image has rater A; B and A2 for all images of the same ~30 % of patients
    n_images = sum(len(v) for v in demo.VIEWS.values())
    assert (m[m.rater == "A"].groupby("patient_id").size() == n_images).all()
    per_patient = m.groupby("patient_id").rater.agg(lambda r: tuple(sorted(set(r))))
    assert set(per_patient) == {("A",), ("A", "A2", "B")}
    rated = per_patient[per_patient == ("A", "A2", "B")].index
    assert len(rated) == 36
    assert (m[m.patient_id.isin(rated)].groupby(["patient_id", "rater"]).size() == n_images).all()


def test_plan_deterministic_and_seeded():
    assert demo.plan(50, 3, 0.3).equals(demo.plan(50, 3, 0.3))
    rated = lambda m: set(m[m.rater == "B"].patient_id)  # noqa: E731
    assert rated(demo.plan(50, 3, 0.3)) != rated(demo.plan(50, 4, 0.3))
    assert rated(demo.plan(20, 1, 0.0)) == set()
    assert len(rated(demo.plan(20, 1, 1.0))) == 20


@pytest.mark.parametrize("kwargs", [
    {"n_patients": 0}, {"n_patients": 2.5}, {"n_patients": True}, {"seed": -1}, {"seed": "x"},
    {"rater_fraction": 1.5}, {"rater_fraction": float("nan")},
])
def test_bad_arguments_raise_input_error(kwargs):
    with pytest.raises(InputError):
        demo.plan(**{"n_patients": 120, "seed": 42, "rater_fraction": 0.3, **kwargs})


# ---------------------------------------------------------------------------------------------
# generated files


def test_manifest_equals_plan(cohorts):
    written = pd.read_csv(cohorts["a"] / "manifest.csv", dtype=str, keep_default_na=False)
    planned = demo.plan(N, 42, 0.3)
    assert list(written.columns) == list(planned.columns)
    assert written.values.tolist() == planned.values.tolist()
    for rel in set(written.image) | set(written["mask"]):
        assert (cohorts["a"] / rel).is_file(), rel


def test_same_seed_byte_identical(cohorts):
    a, b = _files(cohorts["a"]), _files(cohorts["b"])
    assert a.keys() == b.keys()
    differing = [k for k in a if a[k] != b[k]]
    assert not differing, differing[:5]
    expected = {"manifest.csv", "clinical.csv", "README.md", "truth.csv"}
    assert expected <= a.keys()
    assert not [k for k in a if Path(k).name.startswith(".")], "temporary files left behind"


def test_rerun_removes_a_killed_runs_temporaries(tmp_path):
    """A temporary image left by a killed run (atomic_path keeps the .nii.gz ending) is removed
    when the cohort is generated again."""
    demo.generate(tmp_path, n_patients=1, seed=42, rater_fraction=0.0)
    stale = tmp_path / "images" / "P001" / ".MRI_T2.nii.gz.k1ll3d.nii.gz"
    stale.write_bytes(b"half an ima")
    demo.generate(tmp_path, n_patients=1, seed=42, rater_fraction=0.0)
    assert not stale.exists()


def test_gzip_has_no_timestamp(cohorts):
    for path in (cohorts["a"] / "images").rglob("*.nii.gz"):
        head = path.read_bytes()[:10]
        assert head[:2] == b"\x1f\x8b" and head[4:8] == b"\x00\x00\x00\x00", path


def test_different_seed_differs(cohorts):
    a, c = _files(cohorts["a"]), _files(cohorts["c"])
    images = [k for k in a if k.startswith("images/")]
    assert images and all(a[k] != c.get(k) for k in images)
    assert a["clinical.csv"] != c["clinical.csv"]


def test_geometry_and_masks(cohorts):
    root = cohorts["a"]
    m = pd.read_csv(root / "manifest.csv")
    images = {}
    for r in m.itertuples():
        if r.image not in images:
            images[r.image] = sitk.ReadImage(str(root / r.image))
        img, msk = images[r.image], sitk.ReadImage(str(root / r.mask))
        assert img.GetSize() == msk.GetSize(), r.mask
        assert np.allclose(img.GetSpacing(), msk.GetSpacing()), r.mask
        assert np.allclose(img.GetOrigin(), msk.GetOrigin()), r.mask
        assert np.allclose(img.GetDirection(), msk.GetDirection()), r.mask
        assert msk.GetPixelID() == sitk.sitkUInt8
        arr = sitk.GetArrayFromImage(msk)
        assert set(np.unique(arr)) == {0, 1}, r.mask  # never empty, label 1
        inner = np.zeros(arr.shape, bool)
        inner[tuple(slice(1, -1) for _ in arr.shape)] = True
        assert not arr[~inner].any(), f"{r.mask} touches the border"
        dim = 3 if r.modality == "MRI" else 2
        assert img.GetDimension() == dim
        if r.modality == "MRI":
            sx, sy, sz = img.GetSpacing()
            assert sz > 2 * sx and sx == sy  # anisotropic through-plane
        pixels = sitk.GetArrayViewFromImage(img)
        if r.modality == "MG":
            assert 0 <= pixels.min() and pixels.max() <= 4095
        assert pixels.std() > 0


def test_image_contrast_follows_the_latents(cohorts):
    """Tumours look like tumours: bright on DWI and DCE, dark on US, restricted diffusion on ADC."""
    root = cohorts["a"]
    for pid in demo.plan(N, 42, 0.3).patient_id.unique():
        def inside_outside(stem):
            img = sitk.GetArrayFromImage(sitk.ReadImage(str(root / f"images/{pid}/{stem}.nii.gz"))).astype(float)
            msk = sitk.GetArrayFromImage(sitk.ReadImage(str(root / f"masks/{pid}/{stem}_A.nii.gz"))).astype(bool)
            return img[msk].mean(), img[~msk].mean()

        for stem, brighter in (("MRI_DWI", True), ("MRI_DCE2", True), ("US_tumor", False)):
            i, o = inside_outside(stem)
            assert (i > o) == brighter, (pid, stem, i, o)
        # Fat-suppressed fat has a low ADC too, so compare with glandular tissue (~1.75e-3 mm2/s).
        assert inside_outside("MRI_ADC")[0] < 1400, pid


def test_rater_agreement(cohorts):
    root = cohorts["a"]
    m = pd.read_csv(root / "manifest.csv")
    rated = sorted(set(m[m.rater == "B"].patient_id))
    assert len(rated) == round(0.3 * N)
    for (pid, modality, view), g in m[m.patient_id.isin(rated)].groupby(["patient_id", "modality", "view"]):
        masks = {r.rater: sitk.GetArrayFromImage(sitk.ReadImage(str(root / r.mask))).astype(bool) for r in g.itertuples()}
        assert masks.keys() == {"A", "A2", "B"}
        d_b, d_a2 = _dice(masks["A"], masks["B"]), _dice(masks["A"], masks["A2"])
        assert 0.85 <= d_b <= 0.93, (pid, view, d_b)
        assert 0.92 <= d_a2 <= 0.97, (pid, view, d_a2)
        assert not (masks["A"] == masks["B"]).all()


def test_readme_documents_the_model(cohorts):
    text = (cohorts["a"] / "README.md").read_text()
    for k, b in demo.COEFFICIENTS.items():
        assert f"{b}" in text and k in text
    assert f"{demo.INTERCEPT}" in text
    formula = f"{demo.INTERCEPT} + " + " + ".join(f"{demo.COEFFICIENTS[k]} {k[0].upper()}" for k in demo.LATENTS)
    assert formula in text
    doc = " ".join(demo.__doc__.split())  # the module docstring states the same numbers
    assert f"{demo.INTERCEPT} + " + " + ".join(f"{demo.COEFFICIENTS[k]} {k}" for k in demo.LATENTS) in doc
    truth = pd.read_csv(cohorts["a"] / "truth.csv")
    assert set(demo.LATENTS) <= set(truth.columns) and len(truth) == N


# ---------------------------------------------------------------------------------------------
# clinical table


def test_clinical_written_matches_clinical_table(cohorts):
    written = pd.read_csv(cohorts["a"] / "clinical.csv", dtype=str, keep_default_na=False)
    table = demo.clinical_table(N, 42)
    assert written.values.tolist() == table.astype(str).values.tolist()


def test_clinical_columns_and_ranges():
    c = demo.clinical_table(120, 42)
    assert list(c.columns) == [
        "patient_id", "ln_status", "center", "exam_date", "age", "bmi", "tumor_diameter_mm", "shape",
        "margin", "birads", "er", "pr", "her2", "ki67", "grade", "histology", "imaging_node",
        "laterality", "neutrophils", "lymphocytes", "platelets", "monocytes", "wbc",
        "reader_junior", "reader_junior_ai", "reader_senior", "reader_senior_ai",
    ]
    assert not c.isna().any().any()
    assert c.patient_id.tolist() == demo.plan(120, 42, 0.3).patient_id.unique().tolist()
    assert 0.35 <= c.ln_status.mean() <= 0.50
    assert set(c.center) == {"A", "B"} and 0.15 <= (c.center == "B").mean() <= 0.45
    dates = pd.to_datetime(c.exam_date, format="%Y-%m-%d")
    assert dates.min().year == 2019 and dates.max().year == 2023
    assert c.age.between(18, 95).all() and c.bmi.between(15, 45).all()
    assert c.tumor_diameter_mm.between(4, 40).all() and c.ki67.between(1, 95).all()
    assert set(c["shape"]) == {"round", "oval", "irregular"}
    assert set(c.margin) == {"circumscribed", "indistinct", "spiculated"}
    assert set(c.birads) == {"4a", "4b", "4c", "5"}
    assert set(c.grade) == {1, 2, 3} and set(c.histology) == {"IDC", "ILC", "other"}
    for col in ("ln_status", "er", "pr", "her2", "imaging_node"):
        assert set(c[col]) == {0, 1}, col
    assert set(c.laterality) == {"L", "R"}
    assert c.neutrophils.between(1.0, 12).all() and c.lymphocytes.between(0.5, 5).all()
    assert c.platelets.between(100, 600).all() and c.monocytes.between(0.1, 1.5).all()
    assert (c.wbc >= c.neutrophils + c.lymphocytes + c.monocytes).all()


def test_clinical_signal_points_the_right_way():
    c = demo.clinical_table(400, 1)
    pos, neg = c[c.ln_status == 1], c[c.ln_status == 0]
    sii = lambda d: np.log(d.neutrophils * d.platelets / d.lymphocytes)  # noqa: E731
    assert pos.tumor_diameter_mm.mean() > neg.tumor_diameter_mm.mean()
    assert pos.ki67.mean() > neg.ki67.mean()
    assert pos.imaging_node.mean() > neg.imaging_node.mean()
    assert sii(pos).mean() > sii(neg).mean()


def test_simulated_readers_improve_with_ai():
    """Seed 003's reader study in the population: AI assistance raises both readers' AUC, the senior
    reads better than the junior, and the readings are probabilities."""
    from sklearn.metrics import roc_auc_score

    c = demo.clinical_table(3000, 7)
    auc = {r: roc_auc_score(c.ln_status, c[f"reader_{r}"]) for r in ("junior", "junior_ai", "senior", "senior_ai")}
    assert 0.67 <= auc["junior"] <= 0.77 and 0.71 <= auc["senior"] <= 0.81, auc
    assert auc["junior_ai"] - auc["junior"] >= 0.06 and auc["senior_ai"] - auc["senior"] >= 0.05, auc
    assert auc["senior"] > auc["junior"], auc
    readings = c.filter(like="reader_")
    assert readings.ge(0).all().all() and readings.le(1).all().all()
    assert (readings.nunique() > 50).all()  # graded probabilities, not 0/1 calls


def test_readers_do_not_move_other_clinical_values():
    # Readers draw from their own stream, so the demo study's other clinical values are those
    # before the readers existed (digest of seed 22's table at commit 104a9c4).
    c = demo.clinical_table(120, 22)
    rest = c[[k for k in c.columns if not k.startswith("reader_")]].to_csv(index=False).encode()
    assert hashlib.sha256(rest).hexdigest() == "a42c632c1a2885508cba9c764306b0fc2b608ce253e2d521e1ed82ac0d7fe443"


def test_patients_do_not_depend_on_cohort_size():
    small, large = demo.clinical_table(10, 5), demo.clinical_table(20, 5)
    assert small.equals(large.iloc[:10].reset_index(drop=True))
