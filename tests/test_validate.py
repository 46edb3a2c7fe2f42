"""Input validation: every problem is reported with file, row and column, before any compute."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from axilla.errors import InputError
from axilla.validate import check_files, load_clinical, load_manifest, run

VIEWS = {"US": ["tumor"]}
VARS = {"age": "numeric", "margin": "categorical"}


def _run(d):
    run(str(d / "manifest.csv"), str(d / "clinical.csv"), VIEWS, "A", "ln_status", VARS,
        str(d / "out" / "m.csv"), str(d / "out" / "c.csv"), str(d / "out" / "qc.csv"))


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

