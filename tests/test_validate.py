"""Input validation: every problem is reported with file, row and column, before any compute."""

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from axilla.errors import InputError
from axilla.validate import check_files, load_clinical, load_manifest, run
from axilla.settings import section

VIEWS = {"US": ["tumor"]}
VARS = {"age": "numeric", "margin": "categorical"}


def _run(d):
    run(str(d / "manifest.csv"), str(d / "clinical.csv"), VIEWS, "A", "ln_status", VARS,
        str(d / "out" / "m.csv"), str(d / "out" / "c.csv"), str(d / "out" / "qc.csv"), settings=section("validate"))


def _edit(path, fn):
    df = pd.read_csv(path, dtype={"patient_id": str})
    df = fn(df)
    df.to_csv(path, index=False)


def test_valid_cohort_passes_and_writes_tables(tiny_cohort):
    _run(tiny_cohort)
    qc = pd.read_csv(tiny_cohort / "out" / "qc.csv")
    assert len(qc) == 6 and set(qc.spacing) == {"0.2x0.2"}
    clin = pd.read_csv(tiny_cohort / "out" / "c.csv")
    assert list(clin.columns[:2]) == ["patient_id", "ln_status"]


def test_missing_column_named(tiny_cohort):
    _edit(tiny_cohort / "manifest.csv", lambda d: d.drop(columns="rater"))
    with pytest.raises(InputError) as e:
        load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A")
    assert "column 'rater'" in str(e.value) and "manifest.csv" in str(e.value)


def test_every_missing_file_reported_with_row_and_column(tiny_cohort):
    (tiny_cohort / "img" / "T2.nii.gz").unlink()
    (tiny_cohort / "img" / "T4_A.nii.gz").unlink()
    with pytest.raises(InputError) as e:
        _run(tiny_cohort)
    msg = str(e.value)
    assert "2 input problems" in msg
    assert "manifest.csv, row 3, column 'image': file not found" in msg
    assert "manifest.csv, row 5, column 'mask': file not found" in msg
    assert not (tiny_cohort / "out").exists()


def test_unreadable_image(tiny_cohort):
    (tiny_cohort / "img" / "T1.nii.gz").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"row 2, column 'image': cannot read"):
        _run(tiny_cohort)


def test_empty_mask_and_geometry_mismatch(tiny_cohort):
    d = tiny_cohort / "img"
    empty = sitk.Image(40, 40, sitk.sitkUInt8)
    empty.SetSpacing((0.2, 0.2))
    sitk.WriteImage(empty, str(d / "T0_A.nii.gz"))
    other = sitk.Image(30, 40, sitk.sitkUInt8)
    other[12, 20] = 1  # an ROI, on another grid (the ROI rule is applied first)
    sitk.WriteImage(other, str(d / "T3_A.nii.gz"))
    with pytest.raises(InputError) as e:
        _run(tiny_cohort)
    msg = str(e.value)
    assert "row 1, column 'mask': mask" in msg and "is empty" in msg
    assert f"row 4, column 'mask': mask {d / 'T3_A.nii.gz'} (size (30, 40)" in msg
    assert f"and image {d / 'T3.nii.gz'} (size (40, 40)" in msg and "cover different physical extents" in msg


def test_duplicates_bad_values_and_missing_views(tiny_cohort):
    def f(d):
        d = pd.concat([d, d.iloc[[0]]], ignore_index=True)
        d.loc[1, "modality"] = "CT"
        return d

    _edit(tiny_cohort / "manifest.csv", f)
    with pytest.raises(InputError) as e:
        load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A")
    assert "row 2, column 'modality': modality 'CT'" in str(e.value)
    _edit(tiny_cohort / "manifest.csv", lambda d: d.assign(modality="US"))
    with pytest.raises(InputError) as e:
        load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A")
    assert "row 7, column 'patient_id': duplicate entry for patient T0" in str(e.value)
    with pytest.raises(InputError, match="patient T0 has no MG CC image"):
        load_manifest(tiny_cohort / "manifest.csv", {"US": ["tumor"], "MG": ["CC"]}, "A")


def test_unsafe_patient_id(tiny_cohort):
    _edit(tiny_cohort / "manifest.csv", lambda d: d.assign(patient_id=d.patient_id.where(d.index != 2, "T 2/x")))
    with pytest.raises(InputError, match=r"row 3, column 'patient_id'"):
        load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A")


def test_clinical_problems_all_reported(tiny_cohort):
    def f(d):
        d["age"] = d["age"].astype(object)
        d.loc[2, "age"] = "fifty"
        d.loc[4, "ln_status"] = 2
        return pd.concat([d, pd.DataFrame([dict(patient_id="X9", ln_status=0, age=1, margin="round")])])

    _edit(tiny_cohort / "clinical.csv", f)
    patients = [f"T{i}" for i in range(6)] + ["T7"]
    _, problems = load_clinical(tiny_cohort / "clinical.csv", "ln_status", VARS, patients)
    text = "\n".join(map(str, problems))
    assert "row 3, column 'age': non-numeric value 'fifty'" in text
    assert "row 5, column 'ln_status': outcome must be 0 or 1, found '2'" in text
    assert "patient T7 is in the manifest but not in the clinical table" in text
    assert "row 7, column 'patient_id': patient X9 is in the clinical table but has no images" in text


def test_one_class_outcome(tiny_cohort):
    _edit(tiny_cohort / "clinical.csv", lambda d: d.assign(ln_status=1))
    _, problems = load_clinical(tiny_cohort / "clinical.csv", "ln_status", VARS, [f"T{i}" for i in range(6)])
    assert any("one class only" in str(p) and "column 'ln_status'" in str(p) for p in problems)


def _png_patient(d, pixel_spacing):
    """Patient T0's image and mask as PNGs without resolution metadata, with a manifest pixel_spacing."""
    from PIL import Image

    img = sitk.GetArrayFromImage(sitk.ReadImage(str(d / "img" / "T0.nii.gz")))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / "img" / "T0.png")
    Image.fromarray(sitk.GetArrayFromImage(sitk.ReadImage(str(d / "img" / "T0_A.nii.gz")))).save(d / "img" / "T0_A.png")
    _edit(d / "manifest.csv", lambda m: m.assign(
        image=m.image.replace("img/T0.nii.gz", "img/T0.png"), mask=m["mask"].replace("img/T0_A.nii.gz", "img/T0_A.png"),
        pixel_spacing=[pixel_spacing] + [None] * (len(m) - 1)))


def test_manifest_pixel_spacing_reaches_preprocessing(tiny_cohort):
    import shlex

    from axilla.preprocess import main as preprocess_main
    from axilla.preprocess import index_rows, rule_extra_args

    _png_patient(tiny_cohort, "0.15; 0.25")
    manifest = load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A")
    assert list(manifest.pixel_spacing) == ["0.15,0.25"] + [""] * 5  # normalised, kept for the rules
    _run(tiny_cohort)
    qc = pd.read_csv(tiny_cohort / "out" / "qc.csv").set_index("patient_id")
    assert qc.loc["T0", "spacing"] == "0.15x0.25" and qc.loc["T1", "spacing"] == "0.2x0.2"
    validated = pd.read_csv(tiny_cohort / "out" / "m.csv", dtype={"patient_id": str, "pixel_spacing": str})
    # the preprocess rule's command line, built as the Snakefile builds it
    extra = rule_extra_args(index_rows(validated), "T0", "US", "tumor", section("preprocess.US"))
    assert extra == "--pixel-spacing 0.15,0.25"
    row = validated.iloc[0]
    preprocess_main(["--image", row.image, "--mask", f"A={row['mask']}", "--modality", "US", "--view", "tumor",
                     "--settings", '{"normalize": "none"}', "--out", str(tiny_cohort / "prep"), *shlex.split(extra)])
    rec = json.loads((tiny_cohort / "prep" / "qc.json").read_text())
    assert rec["spacing"] == [0.15, 0.25] and rec["spacing_source"] == "row"
    assert rec["roi_mm"]["A"] == pytest.approx(rec["roi_voxels"]["A"] * 0.15 * 0.25)
    for name in ("image", "mask-A"):  # NIfTI stores spacing in float32
        out = sitk.ReadImage(str(tiny_cohort / "prep" / f"{name}.nii.gz"))
        np.testing.assert_allclose(out.GetSpacing(), (0.15, 0.25), rtol=1e-7)


def test_png_without_spacing_from_any_source_is_refused(tiny_cohort):
    from axilla.preprocess import preprocess_image

    _png_patient(tiny_cohort, None)
    png = tiny_cohort / "img" / "T0.png"
    with pytest.raises(InputError) as e:
        _run(tiny_cohort)
    assert str(e.value) == (f"1 input problem found:\n  - {tiny_cohort / 'manifest.csv'}, row 1, column 'image': "
                            f"{png}: no pixel spacing: the file states none; give it in the manifest's pixel_spacing column or "
                            "the config's preprocess.US.pixel_spacing (or set validate.unreadable: drop to exclude "
                            "such patients)")
    with pytest.raises(InputError, match=r"T0.png: no pixel spacing: the file states none"):
        preprocess_image(str(png), {"A": str(tiny_cohort / "img" / "T0_A.png")}, "US", "tumor", section("preprocess.US"),
                         str(tiny_cohort / "prep"))
    assert not (tiny_cohort / "prep").exists()
    run(str(tiny_cohort / "manifest.csv"), str(tiny_cohort / "clinical.csv"), VIEWS, "A", "ln_status", VARS,
        str(tiny_cohort / "out" / "m.csv"), str(tiny_cohort / "out" / "c.csv"), str(tiny_cohort / "out" / "qc.csv"),
        settings=section("validate"),
        preprocess={"US": section("preprocess.US", pixel_spacing=[0.3, 0.3])})  # the per-modality fallback is a source
    assert pd.read_csv(tiny_cohort / "out" / "qc.csv").spacing.iloc[0] == "0.3x0.3"


def test_bad_pixel_spacing_values_reported_with_row(tiny_cohort):
    _edit(tiny_cohort / "manifest.csv", lambda m: m.assign(pixel_spacing=["0.1", "abc", "0,0.1", None, None, None]))
    with pytest.raises(InputError) as e:
        load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A")
    msg = str(e.value)
    assert msg.startswith("2 input problems")  # "0.1" is square pixels
    assert "row 2, column 'pixel_spacing': pixel spacing 'abc' is not 'x,y' in mm" in msg
    assert "row 3, column 'pixel_spacing': pixel spacing '0,0.1' is not 'x,y' in mm" in msg
    # a value for a 3D image would be ignored silently: refused instead
    vol = sitk.Image(8, 8, 4, sitk.sitkFloat32)
    sitk.WriteImage(vol, str(tiny_cohort / "img" / "T0.nii.gz"))
    roi = np.zeros((4, 8, 8), np.uint8)
    roi[1:3, 1:6, 1:6] = 1  # 50 voxels: large enough, so the spacing cell is the only problem
    mask = sitk.GetImageFromArray(roi)
    sitk.WriteImage(mask, str(tiny_cohort / "img" / "T0_A.nii.gz"))
    _edit(tiny_cohort / "manifest.csv", lambda m: m.assign(pixel_spacing=["0.1", None, None, None, None, None]))
    with pytest.raises(InputError) as e:
        _run(tiny_cohort)
    assert str(e.value).endswith(f"row 1, column 'pixel_spacing': pixel_spacing is for 2D files; "
                                 f"{tiny_cohort / 'img' / 'T0.nii.gz'} is 3D and keeps its own spacing: leave the cell "
                                 "empty")


def test_raters_rows_share_one_pixel_spacing(tiny_cohort):
    def two_raters(m):
        b = m.iloc[[0, 1]].assign(rater="B")
        return pd.concat([m, b], ignore_index=True).assign(pixel_spacing=["0.1,0.1", "0.2", None, None, None, None,
                                                                          None, "0.3"])

    _edit(tiny_cohort / "manifest.csv", two_raters)
    with pytest.raises(InputError) as e:
        load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A")
    assert str(e.value).endswith("row 8, column 'pixel_spacing': image 'img/T1.nii.gz' is given different "
                                 "pixel_spacing values (0.2,0.2, 0.3,0.3) in its rows: give one")
    _edit(tiny_cohort / "manifest.csv", lambda m: m.assign(pixel_spacing=m.pixel_spacing.where(m.index != 7)))
    manifest = load_manifest(tiny_cohort / "manifest.csv", VIEWS, "A")
    # the value one row states holds for every row of its image
    assert manifest.set_index(["patient_id", "rater"]).pixel_spacing.to_dict() == {
        ("T0", "A"): "0.1,0.1", ("T1", "A"): "0.2,0.2", ("T2", "A"): "", ("T3", "A"): "", ("T4", "A"): "",
        ("T5", "A"): "", ("T0", "B"): "0.1,0.1", ("T1", "B"): "0.2,0.2"}
