"""Images without a manual mask in auto views (roi.source: auto): validation accepts them (manual
views still refuse an empty mask cell, with today's message), preprocessing writes the image and its
QC record without mask files, the segment stage never trains on or evaluates them and segments them
with the networks of all masked training patients, and radiomics gives them the automatic mask's
features (pyradiomics called directly as the reference)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from axilla import radiomics, settings
from axilla.autoroi import AUTO
from axilla.availability import availability_table
from axilla.errors import InputError, Problem
from axilla.preprocess import preprocess_image, raters_in
from axilla.segment import stage, training
from axilla.segment.review import review_list
from axilla.validate import load_manifest, run

from test_segment_autoroi import PARAMS, _box, _prep, _write, segment_cohort

VIEWS = {"US": ["tumor"]}
VARS = {"age": "numeric", "margin": "categorical"}


def _blank(manifest: Path, patients, rater: str = "") -> None:
    """The mask cell (and the rater cell, unless `rater`) of `patients`' rows emptied, as a study
    that did not delineate those images writes them."""
    df = pd.read_csv(manifest, dtype=str)
    rows = df.patient_id.isin(patients)
    df.loc[rows, "mask"] = ""
    df.loc[rows, "rater"] = rater
    df.to_csv(manifest, index=False)


# --------------------------------------------------------------------------- validation


def test_an_auto_view_accepts_images_without_a_mask(tiny_cohort):
    _blank(tiny_cohort / "manifest.csv", ["T1"])
    _blank(tiny_cohort / "manifest.csv", ["T4"], rater="A")  # a rater named beside an empty mask: no mask either
    out = tiny_cohort / "out"
    run(str(tiny_cohort / "manifest.csv"), str(tiny_cohort / "clinical.csv"), VIEWS, "A", "ln_status", VARS,
        str(out / "m.csv"), str(out / "c.csv"), str(out / "qc.csv"), settings=settings.section("validate"),
        out_availability=str(out / "a.csv"), auto_views=["US_tumor"])
    m = pd.read_csv(out / "m.csv", dtype=str, keep_default_na=False).set_index("patient_id")
    assert len(m) == 6 and m.loc["T1", "mask"] == "" and m.loc["T1", "rater"] == ""
    assert m.loc["T4", "mask"] == "" and m.loc["T4", "rater"] == ""
    assert m.loc["T2", "mask"].endswith("T2_A.nii.gz") and m.loc["T2", "rater"] == "A"
    # an image without a mask in an auto view is an available view, not a missing one
    assert pd.read_csv(out / "a.csv").US_tumor.tolist() == [1] * 6
    assert len(pd.read_csv(out / "qc.csv")) == 6


def test_a_manual_view_refuses_an_empty_mask_cell_with_todays_message(tiny_cohort):
    _blank(tiny_cohort / "manifest.csv", ["T1"], rater="A")
    name = str(tiny_cohort / "manifest.csv")
    with pytest.raises(InputError) as e:
        load_manifest(name, VIEWS, "A")
    assert str(e.value) == str(InputError([Problem(name, "empty value", 2, "mask")]))
    with pytest.raises(InputError) as e:  # another view's auto setting changes nothing here
        load_manifest(name, VIEWS, "A", auto_views=["US_node"])
    assert str(e.value) == str(InputError([Problem(name, "empty value", 2, "mask")]))


def test_a_maskless_row_beside_masked_rows_of_its_image_is_left_out(tiny_cohort):
    df = pd.read_csv(tiny_cohort / "manifest.csv", dtype=str)
    extra = df.iloc[[0]].assign(mask="", rater="")
    pd.concat([df, extra], ignore_index=True).to_csv(tiny_cohort / "manifest.csv", index=False)
    m = load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A", auto_views=["US_tumor"])
    assert len(m) == 6 and (m["mask"] != "").all()


def test_every_rater_row_of_an_image_blanked_leaves_one_maskless_row(tiny_cohort):
    df = pd.read_csv(tiny_cohort / "manifest.csv", dtype=str)
    second = df.iloc[[1]].assign(rater="B", mask="")
    df = pd.concat([df, second], ignore_index=True).assign(
        mask=lambda d: d["mask"].where(d.patient_id != "T1", ""))
    df.to_csv(tiny_cohort / "manifest.csv", index=False)
    m = load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A", auto_views=["US_tumor"])
    assert m.patient_id.tolist() == [f"T{i}" for i in range(6)]
    assert m.set_index("patient_id").loc["T1", "mask"] == ""


def test_availability_of_an_auto_view_is_the_image_and_of_a_manual_view_the_primary_mask():
    manifest = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "modality": "US", "view": ["tumor", "node", "tumor"],
                             "rater": ["", "", "B"]})
    views = {"US": ["tumor", "node"]}
    table = availability_table(manifest, views, "A", ["US_tumor"]).set_index("patient_id")
    assert table.US_tumor.tolist() == [1, 1] and table.US_node.tolist() == [0, 0]


# --------------------------------------------------------------------------- preprocessing


def test_preprocessing_an_image_without_a_mask_writes_the_image_and_a_qc_record(tmp_path):
    rng = np.random.default_rng(3)
    arr = rng.normal(100, 10, (40, 50)).astype(np.float32)
    raw = _write(arr, tmp_path / "raw.nii.gz")
    cfg = settings.section("preprocess.US", spacing=[1.0, 1.0], normalize="zscore", normalize_region="image")
    out = tmp_path / "prep"
    record = preprocess_image(str(raw), {}, "US", "tumor", cfg, str(out), primary="A")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["image.nii.gz", "qc.json", "qc.png"] and raters_in(out) == []
    img = sitk.ReadImage(str(out / "image.nii.gz"))
    assert img.GetSpacing() == (1.0, 1.0) and img.GetSize() == (25, 20)  # 50 x 40 pixels of 0.5 mm
    pixels = sitk.GetArrayFromImage(img)
    assert pixels.mean() == pytest.approx(0, abs=1e-5) and pixels.std() == pytest.approx(1, abs=1e-4)
    qc = json.loads((out / "qc.json").read_text())
    assert qc == record and qc["roi_voxels"] == {} and qc["view"] == "tumor"
    png = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "qc.png")))
    assert png.ndim == 3 and (png[..., 0] == png[..., 1]).all()  # grey only: no ROI outline


# --------------------------------------------------------------------------- the segment stage


COHORTS = {**{f"P{i:02d}": "train" for i in range(9)}, **{f"P{i:02d}": "internal" for i in range(9, 13)}}
MASKLESS = ["P02", "P07", "P11"]  # two training patients and one held-out patient without a manual mask
SIZE = 32


def _recorders(monkeypatch, calls):
    """Networks that remember their training patients (image i is the constant i): a patient the network
    saw comes out as the whole image (a leak), any other as a square of side = its training set's size."""

    def fake_fit(name, x, y, settings, seed, device="cpu", encoder_weights=None):
        seen = {int(round(v)) for v in x[:, 0].mean(axis=(1, 2))}
        calls.append(seen)
        return seen, {"best_epoch": 1, "epochs_run": 1, "seconds": 0.0}

    def fake_predict(model, x, batch_size=32, device="cpu"):
        out = np.zeros((len(x), SIZE, SIZE), np.float32)
        for j, i in enumerate(x[:, 0].mean(axis=(1, 2)).round().astype(int)):
            out[j] = 1.0 if i in model else 0.0
            if i not in model:
                out[j, :len(model), :len(model)] = 1.0
        return out

    monkeypatch.setattr(training, "fit", fake_fit)
    monkeypatch.setattr(training, "predict", fake_predict)


def test_maskless_patients_are_never_trained_on_get_full_cohort_masks_and_no_metrics(tmp_path, monkeypatch):
    from axilla.segment.table import run as table_run

    calls = []
    _recorders(monkeypatch, calls)
    index = {p: i for i, p in enumerate(COHORTS)}
    preps, seg = segment_cohort(tmp_path, COHORTS, SIZE, MASKLESS)

    masked_train = {index[p] for p, c in COHORTS.items() if c == "train" and p not in MASKLESS}
    assert calls and all(seen <= masked_train for seen in calls)  # maskless patients never reach fit
    assert masked_train in calls  # the final run: every masked training patient
    n = len(masked_train)  # 7: folds of 3, 2, 2 patients
    for p in COHORTS:
        m = sitk.GetArrayFromImage(sitk.ReadImage(str(seg / f"{p}.nii.gz")))
        if p in MASKLESS or COHORTS[p] == "internal":
            assert np.array_equal(m, _box((SIZE, SIZE), 0, n, 0, n)), p  # the full-cohort networks' square
        else:
            assert m.sum() in {s * s for s in (n - 3, n - 2)} and m.sum() < SIZE * SIZE, p  # out of fold
    cases = pd.read_csv(seg / "cases.csv", dtype={"patient": str})
    fused = cases[cases.model == "fused"].set_index("patient")
    assert fused.loc[MASKLESS, ["dice", "iou", "precision", "recall", "hd95", "manual_pixels"]].isna().all().all()
    assert fused.drop(index=MASKLESS).dice.notna().all()

    out = {k: tmp_path / f"{k}.csv" for k in ("metrics", "raters", "review")}
    table_run([str(seg)], 0, 5, str(out["metrics"]), str(out["raters"]), str(out["review"]), dice_below=0.99)
    metrics = pd.read_csv(out["metrics"]).set_index(["model", "cohort"])
    assert metrics.loc[("fused", "train"), "n"] == 7 and metrics.loc[("fused", "internal"), "n"] == 3
    review = pd.read_csv(out["review"], dtype={"patient_id": str})
    assert set(review[review.patient_id.isin(MASKLESS)].reason) <= {"empty", "area_out_of_range"}
    assert "low_dice" in set(review.reason)  # the masked patients are still judged by Dice


def test_review_reasons_of_a_maskless_case_are_empty_and_area_only():
    cases = pd.DataFrame({"model": "fused", "modality": "US", "view": "tumor", "cohort": ["train", "train", "internal"],
                          "patient": ["T", "E", "B"], "dice": [1.0, np.nan, np.nan], "roi_pixels": [50, 0, 400],
                          "manual_pixels": [50, np.nan, np.nan]})
    got = review_list(cases, dice_below=0.7)
    assert sorted(zip(got.patient_id, got.reason)) == [("B", "area_out_of_range"), ("E", "empty")]


# --------------------------------------------------------------------------- radiomics


def test_radiomics_of_a_maskless_image_is_pyradiomics_on_its_automatic_mask(tmp_path):
    from radiomics import featureextractor

    rng = np.random.default_rng(4)
    image = rng.normal(size=(40, 40)).astype(np.float32) + _box((40, 40), 8, 30, 10, 28) * 2.0
    prep = _prep(tmp_path, "P1", image, {})
    auto = _write(_box((40, 40), 6, 22, 8, 30), tmp_path / "segmentation" / "US_tumor" / "P1.nii.gz", np.uint8)
    out = tmp_path / "radiomics" / "P1" / "US_tumor.csv"
    radiomics.extract_image(str(prep), PARAMS, "US", "tumor", str(out), min_roi_voxels=5, auto_mask=str(auto))
    assert set(pd.read_csv(out).rater) == {AUTO}  # no manual rater rows
    # a second patient with a manual mask, for the by-rater table
    prep2 = _prep(tmp_path, "P2", image, {"A": _box((40, 40), 10, 28, 12, 26)})
    out2 = tmp_path / "radiomics" / "P2" / "US_tumor.csv"
    radiomics.extract_image(str(prep2), PARAMS, "US", "tumor", str(out2), min_roi_voxels=5, auto_mask=str(auto))
    wide, by_rater = tmp_path / "wide.csv", tmp_path / "by_rater.csv"
    radiomics.aggregate({"P1": [str(out)], "P2": [str(out2)]}, "A", str(wide), str(by_rater), auto_views=["US_tumor"])
    got = pd.read_csv(wide, dtype={"patient_id": str}).set_index("patient_id").loc["P1"]
    ref = featureextractor.RadiomicsFeatureExtractor(PARAMS).execute(str(prep / "image.nii.gz"), str(auto), label=1)
    keys = [k for k in ref if not k.startswith("diagnostics_")]
    assert len(keys) > 40
    for k in keys:
        assert got[f"US_tumor_{k}"] == pytest.approx(float(ref[k]), rel=1e-8, abs=1e-12), k
    raters = pd.read_csv(by_rater, dtype={"patient_id": str})
    assert raters.patient_id.tolist() == ["P2"] and raters.rater.tolist() == ["A"]  # the ICC's table lacks P1


def test_the_qc_gallery_shows_a_maskless_image(tmp_path):
    from axilla import qc

    raw = _write(np.random.default_rng(5).normal(100, 10, (30, 30)), tmp_path / "raw.nii.gz")
    prep = tmp_path / "results" / "preprocess" / "P1" / "US_tumor"
    preprocess_image(str(raw), {}, "US", "tumor", settings.section("preprocess.US"), str(prep))
    table = qc.collect([str(prep)], str(tmp_path / "results"))
    assert len(table) == 1 and not any(c.startswith("roi_") and c != "roi_unit" for c in table.columns)
    assert "no manual mask" in qc.gallery_html(table, tmp_path / "results")


def test_the_provenance_hash_skips_empty_mask_cells(tmp_path):
    import hashlib

    from axilla.report.provenance import image_set_row

    (tmp_path / "a.nii.gz").write_bytes(b"image a")
    (tmp_path / "m.nii.gz").write_bytes(b"mask of a")
    (tmp_path / "b.nii.gz").write_bytes(b"image b")
    a, m, b = (str(tmp_path / n) for n in ("a.nii.gz", "m.nii.gz", "b.nii.gz"))
    pd.DataFrame({"patient_id": ["P1", "P2"], "image": [a, b], "mask": [m, ""], "rater": ["A", ""]}).to_csv(
        tmp_path / "v.csv", index=False)
    h = hashlib.sha256()
    for p in sorted([a, b, m]):
        h.update(f"{p}\0{hashlib.sha256(Path(p).read_bytes()).hexdigest()}\n".encode())
    row = image_set_row(str(tmp_path / "v.csv"))
    assert row["sha256"] == h.hexdigest() and row["input"] == "all 3 image and mask files"
