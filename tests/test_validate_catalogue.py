"""The bad-input catalogue: each case stops in validation, before anything is written or any image is
processed, with one message naming the file, the row and the column and saying what to do."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from axilla.config import check as check_config
from axilla.errors import InputError
from axilla.settings import section
from axilla.validate import check_class_counts, load_manifest, min_per_class, run

from conftest import ROOT

VIEWS = {"US": ["tumor"]}
VARS = {"age": "numeric", "margin": "categorical"}


def _run(d, views=VIEWS, **kw):
    run(str(d / "manifest.csv"), str(d / "clinical.csv"), views, "A", "ln_status", VARS,
        str(d / "out" / "m.csv"), str(d / "out" / "c.csv"), str(d / "out" / "qc.csv"),
        out_missing=str(d / "out" / "missing.csv"), out_excluded=str(d / "out" / "excluded.csv"), **_typed(kw))

def _typed(kw: dict) -> dict:
    """The rule hands `run` typed settings; tests write them as the config would."""
    kw["settings"] = section("validate", **kw.get("settings", {}))
    if "split_settings" in kw:
        kw["split_settings"] = section("split", **kw["split_settings"])
    kw["preprocess"] = {"US": section("preprocess.US", **kw.get("preprocess", {}).get("US", {}))}
    return kw



def _edit(path, fn):
    df = pd.read_csv(path, dtype={"patient_id": str})
    fn(df).to_csv(path, index=False)


def _fails(d, **kw) -> str:
    """Run validation; it must raise InputError and write nothing."""
    with pytest.raises(InputError) as e:
        _run(d, **kw)
    assert not (d / "out").exists()
    return str(e.value)


def _path(d, kind, row):
    return str(d / "img" / (f"T{row - 1}.nii.gz" if kind == "image" else f"T{row - 1}_A.nii.gz"))


def _mask_like(d, row, arr, **geometry):
    ref = sitk.ReadImage(_path(d, "image", row))
    m = sitk.GetImageFromArray(arr.astype(np.uint8))
    m.CopyInformation(ref)
    for k, v in geometry.items():
        getattr(m, f"Set{k}")(v)
    sitk.WriteImage(m, _path(d, "mask", row))


def test_missing_image_and_mask_files_in_one_report(tiny_cohort):
    os.unlink(_path(tiny_cohort, "image", 2))
    os.unlink(_path(tiny_cohort, "mask", 4))
    msg = _fails(tiny_cohort)
    m = str(tiny_cohort / "manifest.csv")
    assert msg.startswith("2 input problems found:")
    assert f"{m}, row 2, column 'image': file not found" in msg
    assert f"{m}, row 4, column 'mask': file not found" in msg and "fix the path or add the file" in msg


def test_truncated_image(tiny_cohort):
    p = _path(tiny_cohort, "image", 3)
    data = open(p, "rb").read()
    open(p, "wb").write(data[: len(data) // 2])  # header intact, pixel data cut short
    msg = _fails(tiny_cohort)
    assert f"{tiny_cohort / 'manifest.csv'}, row 3, column 'image': cannot read {p}" in msg
    assert "export it again" in msg


def test_geometry_mismatch_spacing_and_origin(tiny_cohort):
    arr = sitk.GetArrayFromImage(sitk.ReadImage(_path(tiny_cohort, "mask", 2)))
    _mask_like(tiny_cohort, 2, arr, Spacing=(0.3, 0.3))
    _mask_like(tiny_cohort, 5, arr, Origin=(4.0, 0.0))
    msg = _fails(tiny_cohort)
    assert msg.startswith("2 input problems found:")
    for row in (2, 5):
        assert f"row {row}, column 'mask': mask {_path(tiny_cohort, 'mask', row)} (size" in msg
        assert f"and image {_path(tiny_cohort, 'image', row)} (size" in msg
    assert "export the mask from the same series as the image" in msg


def test_one_voxel_shifted_mask_passes_validation_with_warning_and_is_realigned(tiny_cohort, caplog):
    from axilla.preprocess import preprocess_image

    arr = sitk.GetArrayFromImage(sitk.ReadImage(_path(tiny_cohort, "mask", 3)))
    _mask_like(tiny_cohort, 3, arr, Origin=(0.2, 0.0))  # one voxel (0.2 mm) along x
    with caplog.at_level("WARNING"):
        _run(tiny_cohort)  # passes: preprocessing will realign this mask
    mask, image = _path(tiny_cohort, "mask", 3), _path(tiny_cohort, "image", 3)
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(logged) == 1
    assert logged[0].startswith(f"{tiny_cohort / 'manifest.csv'}, row 3: rater A: mask {mask} (size (40, 40)")
    assert f"and image {image} (size (40, 40)" in logged[0]
    assert "differ by 1 voxels; mask resampled onto the image grid (nearest neighbour)" in logged[0]
    qc = pd.read_csv(tiny_cohort / "out" / "qc.csv", keep_default_na=False).set_index("patient_id")
    assert qc.loc["T2", "warnings"] == logged[0].split(": ", 1)[1]
    assert (qc.drop(index="T2").warnings == "").all()
    # preprocessing applies the same rule and gives the same warning
    rec = preprocess_image(image, {"A": mask}, "US", "tumor", section("preprocess.US", normalize="none"),
                           str(tiny_cohort / "prep"))
    assert rec["warnings"] == [qc.loc["T2", "warnings"]]
    out = sitk.GetArrayFromImage(sitk.ReadImage(str(tiny_cohort / "prep" / "mask-A.nii.gz")))
    assert np.array_equal(out, np.roll(arr, 1, axis=1))  # the ROI moved one voxel along x


@pytest.mark.parametrize("what", ["origin", "size"])
def test_mask_of_different_extent_is_refused_naming_both_files(tiny_cohort, what):
    arr = sitk.GetArrayFromImage(sitk.ReadImage(_path(tiny_cohort, "mask", 3)))
    if what == "origin":
        _mask_like(tiny_cohort, 3, arr, Origin=(0.4, 0.0))  # two voxels: beyond the default 1.5
        off = "2"
    else:
        m = sitk.GetImageFromArray(np.pad(arr, ((0, 0), (0, 4))))  # 44 columns on the image's spacing
        m.SetSpacing((0.2, 0.2))
        sitk.WriteImage(m, _path(tiny_cohort, "mask", 3))
        off = "4"
    msg = _fails(tiny_cohort)
    mask, image = _path(tiny_cohort, "mask", 3), _path(tiny_cohort, "image", 3)
    assert msg.startswith("1 input problem found:")
    assert f"{tiny_cohort / 'manifest.csv'}, row 3, column 'mask': mask {mask} (size" in msg
    assert f"and image {image} (size (40, 40)" in msg
    assert f"cover different physical extents (corners up to {off} voxels apart, tolerance 1.5)" in msg
    # the tolerance is preprocessing's own setting, read from the same config
    _run(tiny_cohort, preprocess={"US": {"align_tolerance_voxels": 4}})
    assert "differ by " + off + " voxels" in pd.read_csv(tiny_cohort / "out" / "qc.csv").warnings.dropna().iloc[0]


def test_raster_mask_takes_image_spacing_only_its_size_is_compared(tiny_cohort):
    from PIL import Image

    d = tiny_cohort / "img"
    img = sitk.GetArrayFromImage(sitk.ReadImage(_path(tiny_cohort, "image", 1)))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / "T0.png")  # no dpi
    mask = sitk.GetArrayFromImage(sitk.ReadImage(_path(tiny_cohort, "mask", 1)))
    Image.fromarray(mask).save(d / "T0_A.png", dpi=(72, 72))  # a drawing tool's dpi, not a spacing
    Image.fromarray(np.pad(mask, ((0, 10), (0, 0)))).save(d / "T1_A.png")  # 10 rows too many
    _edit(tiny_cohort / "manifest.csv", lambda m: m.assign(
        image=m.image.replace("img/T0.nii.gz", "img/T0.png"),
        mask=m["mask"].replace({"img/T0_A.nii.gz": "img/T0_A.png", "img/T1_A.nii.gz": "img/T1_A.png"})))
    msg = _fails(tiny_cohort, preprocess={"US": {"pixel_spacing": [0.2, 0.2]}})
    assert msg.startswith("1 input problem found:")
    assert (f"row 2, column 'mask': mask {d / 'T1_A.png'} (size (40, 50), spacing (0.2, 0.2), origin (0, 0)) "
            f"and image {_path(tiny_cohort, 'image', 2)} (size (40, 40)") in msg
    assert "corners up to 10 voxels apart" in msg
    Image.fromarray(mask).save(d / "T1_A.png")
    _run(tiny_cohort, preprocess={"US": {"pixel_spacing": [0.2, 0.2]}})
    qc = pd.read_csv(tiny_cohort / "out" / "qc.csv", keep_default_na=False)
    assert set(qc.spacing) == {"0.2x0.2"} and (qc.warnings == "").all()


def test_4d_dce_series_validated_against_one_phase_grid(tmp_path):
    from axilla.validate import check_files

    vol = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 5, (3, 6, 10, 12)).astype(np.float32),
                                 isVector=False)
    vol.SetSpacing((0.7, 0.7, 2.0, 1.0))
    vol.SetOrigin((5.0, -3.0, 1.0, 0.0))
    sitk.WriteImage(vol, str(tmp_path / "dce.nii.gz"))
    m = np.zeros((6, 10, 12), np.uint8)
    m[2:4, 3:7, 4:9] = 1
    for name, origin in (("ok.nii.gz", (5.0, -3.0, 1.0)), ("far.nii.gz", (5.0, -3.0, 9.0))):
        mk = sitk.GetImageFromArray(m)
        mk.SetSpacing((0.7, 0.7, 2.0))
        mk.SetOrigin(origin)
        sitk.WriteImage(mk, str(tmp_path / name))
    manifest = pd.DataFrame({"row": [1, 2], "patient_id": ["P1", "P2"], "modality": "MRI", "view": "DCE2",
                             "image": str(tmp_path / "dce.nii.gz"), "rater": "A",
                             "mask": [str(tmp_path / "ok.nii.gz"), str(tmp_path / "far.nii.gz")]})
    checked = check_files(manifest, "m.csv")
    assert [str(p) for p in checked.problems] == [
        f"m.csv, row 2, column 'mask': mask {tmp_path / 'far.nii.gz'} (size (12, 10, 6), spacing (0.7, 0.7, 2), "
        f"origin (5, -3, 9)) and image {tmp_path / 'dce.nii.gz'} (size (12, 10, 6), spacing (0.7, 0.7, 2), origin "
        "(5, -3, 1)) cover different physical extents (corners up to 4 voxels apart, tolerance 1.5): export the "
        "mask from the same series as the image"]
    assert checked.warnings == {} and checked.grids[str(tmp_path / "dce.nii.gz")].size == (12, 10, 6, 3)


def test_empty_mask(tiny_cohort):
    _mask_like(tiny_cohort, 6, np.zeros((40, 40)))
    msg = _fails(tiny_cohort)
    assert f"row 6, column 'mask': mask {_path(tiny_cohort, 'mask', 6)} is empty" in msg


def test_one_roi_rule_binary_masks_any_value_multilabel_needs_roi_label(tiny_cohort):
    binary = np.zeros((40, 40))
    binary[10:20, 10:20] = 255  # 0/255, as annotation tools export
    _mask_like(tiny_cohort, 1, binary)
    _run(tiny_cohort)  # any single nonzero value is the ROI
    shutil.rmtree(tiny_cohort / "out")
    multi = binary.copy()
    multi[12:14, 12:14] = 2
    _mask_like(tiny_cohort, 1, multi)
    msg = _fails(tiny_cohort)
    assert msg.startswith("1 input problem") and (
        f"row 1, column 'mask': mask {_path(tiny_cohort, 'mask', 1)} holds several labels (2, 255): name the ROI's "
        "label in preprocess.US.roi_label") in msg
    # With the label configured, mask 1 passes and the 0/1 masks of the others lack it.
    msg = _fails(tiny_cohort, preprocess={"US": {"roi_label": 255}})
    assert msg.startswith("5 input problems") and "row 1," not in msg
    assert f"mask {_path(tiny_cohort, 'mask', 2)} has no voxel with the ROI label 255 (labels present: 1)" in msg


def test_roi_too_small_after_resampling_is_found_before_any_compute(tiny_cohort):
    small = np.zeros((40, 40))
    small[10:13, 10:13] = 1  # 9 pixels of 0.2 mm; at 0.5 mm about 1 to 4
    _mask_like(tiny_cohort, 3, small)
    _run(tiny_cohort, preprocess={"US": {"min_roi_voxels": 9}})  # on its own grid it is large enough
    shutil.rmtree(tiny_cohort / "out")
    msg = _fails(tiny_cohort, preprocess={"US": {"spacing": [0.5, 0.5], "min_roi_voxels": 5}})
    assert msg.startswith("1 input problem") and f"row 3, column 'mask': mask {_path(tiny_cohort, 'mask', 3)} " in msg
    assert ("(rater A): the ROI has 4 voxel(s) after resampling to [0.5, 0.5] mm, below preprocess.US.min_roi_voxels "
            "(5, also pyradiomics' minimumROISize)") in msg and "or set validate.small_roi: drop" in msg
    # validate.small_roi: drop: the patient leaves the study, listed with the reason
    _run(tiny_cohort, preprocess={"US": {"spacing": [0.5, 0.5], "min_roi_voxels": 5}}, settings={"small_roi": "drop"})
    ex = pd.read_csv(tiny_cohort / "out" / "excluded.csv")
    assert ex.patient_id.tolist() == ["T2"] and ex.problem.tolist() == ["small_roi"] and "4 voxel(s)" in ex.reason[0]
    assert "T2" not in set(pd.read_csv(tiny_cohort / "out" / "m.csv").patient_id)
    assert "T2" not in set(pd.read_csv(tiny_cohort / "out" / "c.csv").patient_id)


@pytest.mark.parametrize("spacing", [[0.5, 0.5], [0.3, 0.45], [0.15, 0.15]])
def test_predicted_roi_voxels_equal_what_preprocessing_keeps(tiny_cohort, spacing):
    from axilla.preprocess import Grid, preprocess_image, select_label
    from axilla.validate import predicted_roi_voxels

    rng = np.random.default_rng(4)
    for row in range(1, 7):
        arr = np.zeros((40, 40))
        r0, c0 = rng.integers(5, 20, 2)
        arr[r0:r0 + rng.integers(2, 12), c0:c0 + rng.integers(2, 12)] = 1
        _mask_like(tiny_cohort, row, arr)
        image, mask = sitk.ReadImage(_path(tiny_cohort, "image", row)), sitk.ReadImage(_path(tiny_cohort, "mask", row))
        predicted = predicted_roi_voxels(select_label(mask, None, "m"), Grid.of(image), spacing)
        out = tiny_cohort / f"prep{row}"
        preprocess_image(_path(tiny_cohort, "image", row), {"A": _path(tiny_cohort, "mask", row)}, "US", "tumor",
                         section("preprocess.US", spacing=spacing, normalize="none", min_roi_voxels=1), str(out))
        kept = int(sitk.GetArrayFromImage(sitk.ReadImage(str(out / "mask-A.nii.gz"))).sum())
        assert predicted == kept


def test_parameter_file_cannot_set_another_label_or_size_limit(tiny_cohort):
    params = tiny_cohort / "US.yaml"
    params.write_text("setting:\n  label: 255\n  minimumROISize: 50\n  binWidth: 0.2\n")
    msg = _fails(tiny_cohort, radiomics_params={"US": str(params)})
    assert msg.startswith("2 input problems")
    assert f"{params}: setting 'label: 255': axilla writes every ROI as 0/1 and gives pyradiomics label 1" in msg
    assert (f"{params}: setting 'minimumROISize: 50' disagrees with preprocess.US.min_roi_voxels (20), the one ROI "
            "size limit axilla passes to pyradiomics") in msg
    params.write_text("setting:\n  label: 1\n  minimumROISize: 20\n")
    _run(tiny_cohort, radiomics_params={"US": str(params)})  # agreeing values are allowed


def test_duplicated_patient_in_clinical(tiny_cohort):
    _edit(tiny_cohort / "clinical.csv", lambda d: pd.concat([d, d.iloc[[2]]], ignore_index=True))
    msg = _fails(tiny_cohort)
    assert (f"{tiny_cohort / 'clinical.csv'}, row 7, column 'patient_id': duplicate patient_id T2 (first at row 3)"
            in msg)


def test_duplicated_image_view_rater_rows(tiny_cohort):
    _edit(tiny_cohort / "manifest.csv", lambda d: pd.concat([d, d.iloc[[4]]], ignore_index=True))
    msg = _fails(tiny_cohort)
    assert (f"{tiny_cohort / 'manifest.csv'}, row 7, column 'patient_id': duplicate entry for patient T4, US tumor, "
            "rater A: keep one row per image × mask × rater") in msg


def test_patient_in_manifest_not_in_clinical_and_vice_versa(tiny_cohort):
    _edit(tiny_cohort / "clinical.csv", lambda d: d[d.patient_id != "T3"].assign(
        patient_id=lambda x: x.patient_id.replace("T5", "T9")))
    msg = _fails(tiny_cohort)
    m, c = tiny_cohort / "manifest.csv", tiny_cohort / "clinical.csv"
    assert f"{m}, row 4, column 'patient_id': patient T3 is in the manifest but not in the clinical table" in msg
    assert f"{m}, row 6, column 'patient_id': patient T5 is in the manifest" in msg
    assert f"{c}, row 5, column 'patient_id': patient T9 is in the clinical table but has no images" in msg


def test_outcome_missing_and_not_binary(tiny_cohort):
    def f(d):
        d["ln_status"] = d["ln_status"].astype(object)
        d.loc[1, "ln_status"] = None
        d.loc[3, "ln_status"] = "yes"
        return d

    _edit(tiny_cohort / "clinical.csv", f)
    msg = _fails(tiny_cohort)
    c = tiny_cohort / "clinical.csv"
    assert f"{c}, row 2, column 'ln_status': outcome missing: enter 0 (node-negative) or 1" in msg
    assert f"{c}, row 4, column 'ln_status': outcome must be 0 or 1, found 'yes'" in msg


def test_outcome_one_class_only(tiny_cohort):
    _edit(tiny_cohort / "clinical.csv", lambda d: d.assign(ln_status=0))
    msg = _fails(tiny_cohort)
    assert f"{tiny_cohort / 'clinical.csv'}, column 'ln_status': outcome has one class only (0)" in msg


def test_text_in_numeric_column_all_rows_in_one_report(tiny_cohort):
    def f(d):
        d["age"] = d["age"].astype(object)
        d.loc[0, "age"] = "fifty"
        d.loc[4, "age"] = "61 y"
        return d

    _edit(tiny_cohort / "clinical.csv", f)
    msg = _fails(tiny_cohort)
    c = tiny_cohort / "clinical.csv"
    assert msg.startswith("2 input problems")
    assert f"{c}, row 1, column 'age': non-numeric value 'fifty' in a numeric variable: enter a number" in msg
    assert f"{c}, row 5, column 'age': non-numeric value '61 y'" in msg


def _add_node_views(d, patients):
    for p in patients:
        shutil.copy(d / "img" / f"{p}.nii.gz", d / "img" / f"{p}_node.nii.gz")
        shutil.copy(d / "img" / f"{p}_A.nii.gz", d / "img" / f"{p}_node_A.nii.gz")

    def f(df):
        extra = df[df.patient_id.isin(patients)].assign(view="node")
        extra["image"] = "img/" + extra.patient_id + "_node.nii.gz"
        extra["mask"] = "img/" + extra.patient_id + "_node_A.nii.gz"
        return pd.concat([df, extra], ignore_index=True)

    _edit(d / "manifest.csv", f)


def test_required_view_missing_stops(tiny_cohort):
    _add_node_views(tiny_cohort, ["T0", "T1", "T2", "T4"])  # T3 and T5 lack US node
    with pytest.raises(InputError) as e:
        load_manifest(tiny_cohort / "manifest.csv", {"US": ["tumor", "node"]}, "A")
    msg = str(e.value)
    assert msg.startswith("2 input problems")
    assert (f"{tiny_cohort / 'manifest.csv'}, row 4, column 'view': patient T3 has no US node image with a mask by "
            "the primary rater A") in msg and "set validate.missing_view: drop" in msg
    assert "row 6, column 'view': patient T5" in msg


def test_required_view_missing_drops_with_count(tiny_cohort, caplog):
    # Two of each class keep both views, so the cohort stays usable.
    _add_node_views(tiny_cohort, ["T0", "T1", "T2", "T3"])
    with caplog.at_level("WARNING"):
        _run(tiny_cohort, views={"US": ["tumor", "node"]}, settings={"missing_view": "drop"})
    assert "2 patient(s) dropped for lacking a required view" in caplog.text
    out = tiny_cohort / "out"
    assert sorted(pd.read_csv(out / "m.csv").patient_id.unique()) == ["T0", "T1", "T2", "T3"]
    assert sorted(pd.read_csv(out / "c.csv").patient_id) == ["T0", "T1", "T2", "T3"]
    ex = pd.read_csv(out / "excluded.csv")
    assert ex.patient_id.tolist() == ["T4", "T5"] and ex.reason[0] == "no US node image with a primary-rater mask"
    assert ex.problem.tolist() == ["missing_view", "missing_view"]


def test_too_few_patients_of_a_class_for_folds_and_split(tiny_cohort):
    # 6 patients, 3 per class; a 7:3 split leaves 2 per class for training: too few for stacking's
    # 5 out-of-fold parts, let alone 3 LASSO folds inside each.
    split = {"method": "random", "test_fraction": 0.3}
    msg = _fails(tiny_cohort, split_settings=split, folds=3, seed=1)
    c = tiny_cohort / "clinical.csv"
    assert msg.startswith("2 input problems")
    assert (f"{c}, column 'ln_status': the training cohort would hold 2 patient(s) with ln_status = 0, too few for "
            "5 out-of-fold parts each holding at least 3 per class") in msg and "needs ≥ 5" in msg
    # Only one positive outside the external centre: no stratified internal cohort possible.
    _edit(tiny_cohort / "clinical.csv", lambda d: d.assign(center=["A", "A", "A", "B", "A", "B"]))
    msg = _fails(tiny_cohort, split_settings={**split, "external": {"column": "center", "values": ["B"]}},
                 folds=2, seed=1)
    assert "too few patients of one class to split off the internal cohort: add patients or change 'split'" in msg


def test_class_count_threshold_hand_worked():
    # 5-fold stacking leaves n - ceil(n/5) of a class in each training part: 7 -> 5, 6 -> 4, 5 -> 4.
    assert [min_per_class(k) for k in (2, 3, 4, 5, 6)] == [5, 5, 5, 7, 8]
    clin = pd.DataFrame({"patient_id": [f"P{i:02d}" for i in range(30)], "y": [0, 1] * 15})
    split = {"method": "random", "test_fraction": 0.3}
    assert check_class_counts(clin, "y", section("split", **split), folds=5, seed=3, name="c.csv") == []  # 10-11 per class
    problems = check_class_counts(clin, "y", section("split", **split), folds=9, seed=3, name="c.csv")  # 12 - ceil(12/5) = 9
    assert len(problems) == 2 and all("needs ≥ 12" in p.message for p in problems)


def test_paths_escaping_data_folder_refused_when_configured(tiny_cohort, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    os.replace(_path(tiny_cohort, "image", 2), outside / "T1.nii.gz")
    os.symlink(outside / "T1.nii.gz", _path(tiny_cohort, "image", 2))  # a link that leaves the folder
    _edit(tiny_cohort / "manifest.csv",
          lambda d: d.assign(mask=d["mask"].where(d.index != 4, "../" + tiny_cohort.name + "/img/T4_A.nii.gz")))
    m = tiny_cohort / "manifest.csv"
    with pytest.raises(InputError) as e:
        load_manifest(m, VIEWS, "A", confine_paths=True)
    msg = str(e.value)
    assert msg.startswith("1 input problem found")  # '../<same folder>/...' stays inside
    assert f"{m}, row 2, column 'image': path 'img/T1.nii.gz' leads outside the data folder" in msg
    assert "set validate.confine_paths: false" in msg
    _edit(m, lambda d: d.assign(image=d.image.where(d.index != 0, str(outside / "T1.nii.gz"))))
    with pytest.raises(InputError, match=r"row 1, column 'image': path '/.*T1.nii.gz' leads outside"):
        load_manifest(m, VIEWS, "A", confine_paths=True)
    assert len(load_manifest(m, VIEWS, "A")) == 6  # allowed unless configured


def test_config_unknown_keys_suggest_and_wrong_types():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["sead"] = 1
    cfg["select"]["lasso"]["foldz"] = 3
    cfg["validate"]["missing_views"] = "drop"
    cfg["split"]["test_fraction"] = "0.3"
    with pytest.raises(InputError) as e:
        check_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml", "my.yaml")
    msg = str(e.value)
    assert msg.startswith("4 input problems")
    assert "my.yaml: key 'sead': unknown key — did you mean 'seed'?" in msg
    assert "my.yaml: key 'select.lasso.foldz': unknown key — did you mean 'folds'?" in msg
    assert "my.yaml: key 'validate.missing_views': unknown key — did you mean 'missing_view'?" in msg
    assert "my.yaml: key 'split.test_fraction': '0.3' is not of type 'number'" in msg


def test_missing_clinical_values_counted_not_dropped(tiny_cohort):
    def f(d):
        d.loc[[1, 4], "age"] = np.nan
        d.loc[2, "margin"] = np.nan
        return d

    _edit(tiny_cohort / "clinical.csv", f)
    _run(tiny_cohort)
    clin = pd.read_csv(tiny_cohort / "out" / "c.csv")
    assert len(clin) == 6 and clin.age.isna().sum() == 2  # kept, imputed later from training rows
    miss = pd.read_csv(tiny_cohort / "out" / "missing.csv", keep_default_na=False).set_index("variable")
    assert miss.loc["age", "n_missing"] == 2 and miss.loc["age", "patients"] == "T1;T4"
    assert miss.loc["margin", "n_missing"] == 1 and miss.loc["margin", "percent"] == pytest.approx(16.67)


def test_a_flood_of_one_mistake_reads_as_a_summary_and_the_full_list_is_written(tiny_cohort):
    import pandas as pd

    m = pd.read_csv(tiny_cohort / "manifest.csv")
    many = pd.concat([m.assign(patient_id=[f"P{k}{i}" for i in range(len(m))]) for k in range(8)], ignore_index=True)
    many = many.assign(image="/elsewhere/" + many.image, mask="/elsewhere/" + many["mask"])
    many.to_csv(tiny_cohort / "manifest.csv", index=False)  # 48 rows, every path outside the data folder
    problems = tiny_cohort / "problems.csv"
    msg = _fails(tiny_cohort, settings={"confine_paths": True}, out_problems=str(problems))
    lines = msg.splitlines()
    # 48 + 48 paths outside the folder, 42 images listed for a second patient's view
    assert len(lines) <= 30 and lines[0] == "138 input problems found: 3 kind(s), the first 3 of each shown"
    assert f"  - 48x {tiny_cohort / 'manifest.csv'}, column 'mask': path … leads outside the data folder" in msg
    assert f"Every problem: {problems}" == lines[-1]
    table = pd.read_csv(problems)
    assert len(table) == 138 and set(table.column) == {"image", "mask"} and table.row.max() == 48
