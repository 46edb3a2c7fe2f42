"""Automatic ROIs (roi.source: auto): features of an auto view come from the fused automatic masks,
which the segment stage drew with networks that never saw the patient; the review list; the
parse-time checks. Tiny 2D images, the networks replaced by recorders (as test_segment_leakage)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from axilla import radiomics, settings
from axilla.autoroi import AUTO, on_grid
from axilla.errors import InputError
from axilla.segment import review, stage, training
from axilla.segment.data import Case

# Original image only, three classes: a few hundred ms per extraction
PARAMS = {"setting": {"binWidth": 0.25, "minimumROIDimensions": 2},
          "imageType": {"Original": {}}, "featureClass": {"shape2D": [], "firstorder": [], "glcm": []}}
SPACING = (0.5, 0.5)


def _write(arr, path, dtype=np.float32):
    img = sitk.GetImageFromArray(np.asarray(arr, dtype=dtype))
    img.SetSpacing(SPACING)
    img.SetOrigin((3.0, -2.0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return path


def _box(shape, r0, r1, c0, c1):
    m = np.zeros(shape, np.uint8)
    m[r0:r1, c0:c1] = 1
    return m


def _prep(root, patient, image, masks, key="US_tumor"):
    d = Path(root) / "preprocess" / patient / key
    _write(image, d / "image.nii.gz")
    for rater, m in masks.items():
        _write(m, d / f"mask-{rater}.nii.gz", np.uint8)
    return d


# --------------------------------------------------------------------------- radiomics on the automatic mask


def test_auto_view_features_are_pyradiomics_on_the_automatic_mask_and_not_the_manual_one(tmp_path):
    from radiomics import featureextractor

    rng = np.random.default_rng(0)
    image = rng.normal(size=(40, 40)).astype(np.float32) + _box((40, 40), 8, 30, 10, 28) * 2.0
    prep = _prep(tmp_path, "P1", image, {"A": _box((40, 40), 10, 28, 12, 26), "B": _box((40, 40), 11, 28, 12, 27)})
    auto = _write(_box((40, 40), 6, 22, 8, 30), tmp_path / "segmentation" / "US_tumor" / "P1.nii.gz", np.uint8)
    out = tmp_path / "radiomics" / "P1" / "US_tumor.csv"
    radiomics.extract_image(str(prep), PARAMS, "US", "tumor", str(out), min_roi_voxels=5, auto_mask=str(auto))
    wide, by_rater = tmp_path / "wide.csv", tmp_path / "by_rater.csv"
    radiomics.aggregate({"P1": [str(out)]}, "A", str(wide), str(by_rater), auto_views=["US_tumor"])
    got = pd.read_csv(wide, dtype={"patient_id": str}).set_index("patient_id").loc["P1"]

    ex = featureextractor.RadiomicsFeatureExtractor(PARAMS)
    ref_auto = ex.execute(str(prep / "image.nii.gz"), str(auto), label=1)
    ref_manual = ex.execute(str(prep / "image.nii.gz"), str(prep / "mask-A.nii.gz"), label=1)
    keys = [k for k in ref_auto if not k.startswith("diagnostics_")]
    assert len(keys) > 40
    for k in keys:
        assert got[f"US_tumor_{k}"] == pytest.approx(float(ref_auto[k]), rel=1e-8, abs=1e-12), k
    assert got["US_tumor_original_shape2D_PixelSurface"] == 16 * 22 * 0.25  # the automatic box, in mm²
    differ = [k for k in keys if not np.isclose(float(ref_auto[k]), float(ref_manual[k]))]
    assert "original_shape2D_PixelSurface" in differ and len(differ) > len(keys) // 2
    # the ICC's table keeps the manual raters only, with today's values
    raters = pd.read_csv(by_rater)
    assert sorted(raters.rater) == ["A", "B"]
    assert raters.set_index("rater").loc["A", "US_tumor_original_shape2D_PixelSurface"] == pytest.approx(
        float(ref_manual["original_shape2D_PixelSurface"]))


def test_manual_views_keep_the_primary_raters_features_beside_an_auto_view(tmp_path):
    rng = np.random.default_rng(1)
    tables = {}
    for key, auto in (("US_tumor", True), ("US_node", False)):
        image = rng.normal(size=(30, 30)).astype(np.float32)
        prep = _prep(tmp_path, "P1", image, {"A": _box((30, 30), 5, 20, 5, 20)}, key)
        seg = _write(_box((30, 30), 8, 14, 8, 14), tmp_path / "seg" / f"{key}.nii.gz", np.uint8) if auto else None
        out = tmp_path / "radiomics" / "P1" / f"{key}.csv"
        radiomics.extract_image(str(prep), PARAMS, "US", key.split("_")[1], str(out), 5, auto_mask=seg and str(seg))
        tables.setdefault("P1", []).append(str(out))
    radiomics.aggregate(tables, "A", str(tmp_path / "w.csv"), str(tmp_path / "r.csv"), auto_views=["US_tumor"])
    w = pd.read_csv(tmp_path / "w.csv").iloc[0]
    assert w["US_tumor_original_shape2D_PixelSurface"] == 36 * 0.25  # automatic 6 x 6
    assert w["US_node_original_shape2D_PixelSurface"] == 225 * 0.25  # manual 15 x 15


def test_an_unusable_automatic_mask_gives_missing_features_not_a_crash(tmp_path):
    prep = _prep(tmp_path, "P1", np.random.default_rng(2).normal(size=(30, 30)), {"A": _box((30, 30), 5, 20, 5, 20)})
    empty = _write(np.zeros((30, 30)), tmp_path / "seg" / "P1.nii.gz", np.uint8)
    out = tmp_path / "radiomics" / "P1" / "US_tumor.csv"
    radiomics.extract_image(str(prep), PARAMS, "US", "tumor", str(out), 5, auto_mask=str(empty))
    assert set(pd.read_csv(out).rater) == {"A"}
    radiomics.aggregate({"P1": [str(out)]}, "A", str(tmp_path / "w.csv"), str(tmp_path / "r.csv"), ["US_tumor"])
    assert pd.read_csv(tmp_path / "w.csv", dtype={"patient_id": str}).patient_id.tolist() == ["P1"]


def test_a_mask_off_the_image_grid_is_resampled_onto_it():
    image = sitk.GetImageFromArray(np.zeros((20, 20), np.float32))
    image.SetSpacing((0.5, 0.5))
    coarse = sitk.GetImageFromArray(_box((10, 10), 2, 6, 2, 6))
    coarse.SetSpacing((1.0, 1.0))
    coarse.SetOrigin((-0.25, -0.25))  # pixel centres of the coarse grid fall between two fine ones
    on = on_grid(coarse, image)
    assert on.GetSize() == image.GetSize() and on.GetSpacing() == image.GetSpacing()
    assert sitk.GetArrayFromImage(on).sum() == 64  # 4 x 4 mm at 0.5 mm pixels
    same = sitk.GetImageFromArray(_box((20, 20), 2, 6, 2, 6))
    same.SetSpacing((0.5, 0.5))
    assert np.array_equal(sitk.GetArrayFromImage(on_grid(same, image)), _box((20, 20), 2, 6, 2, 6))


# --------------------------------------------------------------------------- masks from networks that never saw the patient


COHORTS = {**{f"P{i:02d}": "train" for i in range(9)}, **{f"P{i:02d}": "internal" for i in range(9, 13)}}
SIZE = 32


def _recorders(monkeypatch):
    """Networks that remember their training patients (image i is the constant i): a patient the
    network saw is segmented as the whole image (a leak); any other as a square at the top left whose
    side is the number of patients the network trained on."""

    def fake_fit(name, x, y, settings, seed, device="cpu", encoder_weights=None):
        return {int(round(v)) for v in x[:, 0].mean(axis=(1, 2))}, {"best_epoch": 1, "epochs_run": 1, "seconds": 0.0}

    def fake_predict(model, x, batch_size=32, device="cpu"):
        out = np.zeros((len(x), SIZE, SIZE), np.float32)
        for j, i in enumerate(x[:, 0].mean(axis=(1, 2)).round().astype(int)):
            if i in model:
                out[j] = 1.0
            else:
                out[j, :len(model), :len(model)] = 1.0
        return out

    monkeypatch.setattr(training, "fit", fake_fit)
    monkeypatch.setattr(training, "predict", fake_predict)


def segment_cohort(tmp_path, cohorts=None, size=None, maskless=()) -> tuple[list[str], Path]:
    """The segment stage (two networks, 3 folds) on `cohorts` (patient -> cohort; default COHORTS):
    patient i's image constant i, a box mask of rater A unless in `maskless`. Returns the
    preprocessed folders and the stage's output folder."""
    cohorts, size = cohorts or COHORTS, size or SIZE
    preps = [str(_prep(tmp_path, p, np.full((size, size), float(i), np.float32),
                       {} if p in maskless else {"A": _box((size, size), 20, 30, 20, 30)}))
             for i, p in enumerate(cohorts)]
    split = tmp_path / "split.csv"
    pd.DataFrame({"patient_id": list(cohorts), "cohort": list(cohorts.values()), "y": 0}).to_csv(split, index=False)
    seg = tmp_path / "segmentation" / "US_tumor"
    cfg = settings.section("segment", enabled=True, views=["US_tumor"], models=["unet", "unetpp"], folds=3,
                           size=size, bootstraps=0, reproducible="off")
    stage.run(preps, str(split), "US_tumor", cfg, "A", 5, 1, str(seg))
    return preps, seg


def test_features_of_an_auto_view_use_out_of_fold_and_held_out_networks_masks(tmp_path, monkeypatch):
    from axilla.deep.stage import _read_cases

    _recorders(monkeypatch)
    preps, seg = segment_cohort(tmp_path)
    train = [p for p, c in COHORTS.items() if c == "train"]
    patients, _, masks = _read_cases(preps, "A", str(seg))  # the deep job's ROIs
    assert patients == list(COHORTS)
    for p, m in zip(patients, masks):
        side = len(train) if COHORTS[p] == "internal" else len(train) - len(train) // 3  # 3 folds of 9
        assert np.array_equal(m, _box((SIZE, SIZE), 0, side, 0, side)), p  # never the whole image
    # and the radiomics job's: its shape is the automatic square, not the manual 10 x 10
    out = tmp_path / "radiomics" / "P10" / "US_tumor.csv"
    radiomics.extract_image(preps[10], PARAMS, "US", "tumor", str(out), 5, auto_mask=str(seg / "P10.nii.gz"))
    rows = pd.read_csv(out).set_index(["rater", "feature"]).value
    assert rows[(AUTO, "US_tumor_original_shape2D_PixelSurface")] == 81 * 0.25
    assert rows[("A", "US_tumor_original_shape2D_PixelSurface")] == 100 * 0.25


# --------------------------------------------------------------------------- the review list


def test_review_list_reasons_on_hand_made_masks():
    shape = (40, 40)
    manual = {"T1": _box(shape, 0, 8, 0, 8), "T2": _box(shape, 0, 12, 0, 12),  # training range 64..144 pixels
              "E": _box(shape, 0, 10, 0, 10), "L": _box(shape, 0, 12, 0, 12), "B": _box(shape, 0, 14, 0, 14)}
    fused = {"T1": manual["T1"], "T2": manual["T2"],
             "E": np.zeros(shape, np.uint8),  # empty: Dice 0
             "L": _box(shape, 0, 12, 0, 6),  # 72 pixels inside the 144 of its manual mask: Dice 2·72/216 = 2/3
             "B": manual["B"]}  # perfect, but 196 pixels: larger than any training mask
    cohort = {"T1": "train", "T2": "train", "E": "internal", "L": "internal", "B": "external"}
    cases = {p: Case(p, np.zeros(shape, np.float32), {"A": m}, (1.0, 1.0)) for p, m in manual.items()}
    unet = {p: np.ones(shape, np.uint8) for p in manual}  # single networks are not reviewed
    table = stage.case_table({"unet": unet, "fused": fused}, cases, cohort, "A", "US", "tumor")
    got = review.review_list(table, dice_below=0.7)
    assert list(got.columns) == review.COLUMNS
    assert sorted(zip(got.patient_id, got.reason)) == [("B", "area_out_of_range"), ("E", "empty"),
                                                       ("E", "low_dice"), ("L", "low_dice")]
    row = got.set_index(["patient_id", "reason"])
    assert row.loc[("L", "low_dice"), "dice"] == pytest.approx(2 / 3)
    assert row.loc[("E", "empty"), "roi_pixels"] == 0 and row.loc[("B", "area_out_of_range"), "roi_pixels"] == 196
    assert (got.train_min_pixels == 64).all() and (got.train_max_pixels == 144).all()
    assert set(review.review_list(table, dice_below=0.6).reason) == {"empty", "low_dice", "area_out_of_range"}
    assert ("L", "low_dice") not in set(zip(*review.review_list(table, 0.6)[["patient_id", "reason"]].T.values))
    counts = review.counts(got).set_index("cohort")
    assert counts.loc["internal", "empty"] == 1 and counts.loc["internal", "low_dice"] == 2
    assert counts.loc["external", "area_out_of_range"] == 1


def test_the_report_section_shows_the_review_list_and_the_auto_views(tmp_path):
    from types import SimpleNamespace

    from axilla.report.html import Doc
    from axilla.report.sections.segmentation import segmentation

    metrics = ["dice", "iou", "precision", "recall", "hd95"]
    pd.DataFrame([{"model": "fused", "modality": "US", "view": "tumor", "cohort": "internal", "n": 3, "n_empty": 1,
                   **{k: 0.8 for k in metrics}, **{f"{k}_ci_{e}": np.nan for k in metrics for e in ("low", "high")}}]
                 ).to_csv(tmp_path / "metrics.csv", index=False)
    pd.DataFrame([{"modality": "US", "view": "tumor", "patient_id": "P007", "cohort": "internal", "reason": "empty",
                   "dice": 0.0, "roi_pixels": 0, "train_min_pixels": 64.0, "train_max_pixels": 144.0}]
                 ).to_csv(tmp_path / "review.csv", index=False)
    st = settings.load({"study": "s", "views": {"US": ["tumor", "node"]}, "models": {"m": {"features": ["radiomics"]}},
                        "segment": {"enabled": True, "views": ["US_tumor"]}, "roi": {"source": {"US_tumor": "auto"}}})
    d = Doc()
    segmentation(d, SimpleNamespace(opt={"segmentation": [str(tmp_path / "metrics.csv")],
                                         "segmentation_review": [str(tmp_path / "review.csv")]}, settings=st))
    text = "\n".join(d.parts)
    assert "Review list" in text and "P007" in text and ">144<" in text and "automatic (fused masks) for US_tumor" in text


# --------------------------------------------------------------------------- settings


BASE = {"study": "s", "views": {"US": ["tumor", "node"], "MG": ["CC"]}, "models": {"m": {"features": ["radiomics"]}}}


def test_every_view_defaults_to_manual_rois():
    assert settings.load(BASE).roi.source == {"US_tumor": "manual", "US_node": "manual", "MG_CC": "manual"}
    st = settings.load({**BASE, "segment": {"enabled": True, "views": ["US_tumor"]}, "roi": {"source": {"US_tumor": "auto"}}})
    assert st.roi.source["US_node"] == "manual" and st.roi.auto_views == ["US_tumor"]
    assert st.segment.review.dice_below == 0.7


@pytest.mark.parametrize("extra, message", [
    ({"roi": {"source": {"US_tumor": "auto"}}}, "key 'roi.source.US_tumor': auto needs the automatic segmentation"),
    ({"segment": {"enabled": True, "views": ["MG_CC"]}, "roi": {"source": {"US_tumor": "auto"}}},
     "key 'roi.source.US_tumor': auto needs US_tumor in segment.views"),
    ({"roi": {"source": {"US_node": "manual", "MG_MLO": "manual"}}}, "key 'roi.source.MG_MLO': 'MG_MLO' is not a view"),
])
def test_auto_rois_without_their_segmentation_stop_at_parse_time(extra, message):
    with pytest.raises(InputError) as e:
        settings.load({**BASE, **extra})
    assert message in str(e.value)


def test_the_schema_refuses_an_unknown_roi_source():
    from axilla.config import check

    with pytest.raises(InputError, match="roi.source.US_tumor"):
        check({**BASE, "roi": {"source": {"US_tumor": "semi"}}}, settings.SCHEMA)


def test_segmented_views_are_checked_only_when_segmentation_is_on():
    """`segment.enabled: false` alone switches the stage off, whatever views a merged config lists."""
    foreign = {"segment": {"enabled": False, "views": ["MG_MLO"]}}
    assert settings.load({**BASE, **foreign}).segment.views == ["MG_MLO"]
    with pytest.raises(InputError, match="key 'segment.views': 'MG_MLO' is not a view of this study"):
        settings.load({**BASE, "segment": {"enabled": True, "views": ["MG_MLO"]}})
