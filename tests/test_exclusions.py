"""Exclusions decided up front: per problem class (`validate.<class>: stop | drop`) a patient's
problem stops the run, naming file, row and column, or excludes the patient (listed in
validate/excluded.csv, absent from every validated table). The reference for a drop is the same
cohort with the patient removed from both tables by hand."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from axilla.errors import InputError
from axilla.settings import section
from axilla.validate import run

VIEWS = {"US": ["tumor"]}
VARS = {"age": "numeric", "margin": "categorical"}
DROP_ALL = {"unreadable": "drop", "small_roi": "drop", "missing_outcome": "drop"}


def _run(d, settings=None, preprocess=None, split=None, folds=2):
    out = d / "out"
    run(str(d / "manifest.csv"), str(d / "clinical.csv"), VIEWS, "A", "ln_status", VARS, str(out / "m.csv"),
        str(out / "c.csv"), str(out / "qc.csv"), settings=section("validate", **(settings or {})),
        preprocess={"US": section("preprocess.US", **(preprocess or {}))},
        split_settings=section("split", **split) if split else None, folds=folds, seed=1,
        out_missing=str(out / "missing.csv"), out_excluded=str(out / "excluded.csv"))
    return out


def _fails(d, **kw) -> str:
    with pytest.raises(InputError) as e:
        _run(d, **kw)
    assert not (d / "out").exists()
    return str(e.value)


def _edit(path, fn):
    fn(pd.read_csv(path, dtype={"patient_id": str})).to_csv(path, index=False)


def _img(d, pid, mask=False):
    return d / "img" / (f"{pid}_A.nii.gz" if mask else f"{pid}.nii.gz")


def _write_mask(d, pid, arr, **geometry):
    m = sitk.GetImageFromArray(arr.astype(np.uint8))
    m.CopyInformation(sitk.ReadImage(str(_img(d, pid))))
    for k, v in geometry.items():
        getattr(m, f"Set{k}")(v)
    sitk.WriteImage(m, str(_img(d, pid, mask=True)))


def _without(d, patients, dest):
    """The reference: a copy of the cohort with `patients` removed from both tables by hand."""
    shutil.copytree(d, dest, ignore=shutil.ignore_patterns("out"))
    for table in ("manifest.csv", "clinical.csv"):
        _edit(dest / table, lambda df: df[~df.patient_id.isin(patients)])
    return dest


def _same_tables(out, ref_out):
    for name in ("m.csv", "c.csv", "qc.csv", "missing.csv"):
        a, b = pd.read_csv(out / name), pd.read_csv(ref_out / name)
        if name == "m.csv":  # manifest rows are numbered as in the file each came from
            a, b = a.drop(columns="row"), b.drop(columns="row")
        if name in ("m.csv", "qc.csv"):  # paths point into each copy
            for col in ("image", "mask"):
                if col in a:
                    a[col], b[col] = a[col].str.rsplit("/", n=2).str[-2:].str.join("/"), \
                        b[col].str.rsplit("/", n=2).str[-2:].str.join("/")
        pd.testing.assert_frame_equal(a, b)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --------------------------------------------------------------------------- unreadable

BREAKAGES = {
    "truncated image": (lambda d: _truncate(_img(d, "T2")), 3, "image", "cannot read"),
    "missing mask": (lambda d: _img(d, "T2", mask=True).unlink(), 3, "mask", "file not found"),
    "mask off the grid": (lambda d: _write_mask(d, "T2", np.pad(np.ones((10, 10)), 15), Origin=(3.0, 0.0)), 3,
                          "mask", "(size"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_unreadable_stops_with_file_row_column_or_drops_the_patient(tiny_cohort, tmp_path_factory, breakage):
    damage, row, column, words = BREAKAGES[breakage]
    damage(tiny_cohort)
    msg = _fails(tiny_cohort)
    assert msg.startswith("1 input problem")
    assert f"{tiny_cohort / 'manifest.csv'}, row {row}, column '{column}': " in msg and words in msg
    assert "(or set validate.unreadable: drop to exclude such patients)" in msg
    # small_roi / missing_outcome set to drop do not drop an unreadable file's patient
    assert _fails(tiny_cohort, settings={"small_roi": "drop", "missing_outcome": "drop"}).startswith("1 input problem")

    out = _run(tiny_cohort, settings={"unreadable": "drop"})
    ex = pd.read_csv(out / "excluded.csv")
    assert list(ex.columns) == ["patient_id", "problem", "reason"]
    assert ex[["patient_id", "problem"]].values.tolist() == [["T2", "unreadable"]]
    assert f"row {row}, column '{column}'" in ex.reason[0] and words in ex.reason[0]
    for name in ("m.csv", "c.csv", "qc.csv"):
        assert "T2" not in set(pd.read_csv(out / name).patient_id)
    ref = _without(tiny_cohort, ["T2"], tmp_path_factory.mktemp("ref") / "c")
    _same_tables(out, _run(ref))


def test_image_without_pixel_spacing_is_unreadable(tiny_cohort):
    from PIL import Image

    img = sitk.GetArrayFromImage(sitk.ReadImage(str(_img(tiny_cohort, "T4"))))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(tiny_cohort / "img" / "T4.png")  # no spacing stated
    _edit(tiny_cohort / "manifest.csv", lambda d: d.assign(image=d.image.where(d.patient_id != "T4", "img/T4.png")))
    msg = _fails(tiny_cohort)
    assert "row 5, column 'image'" in msg and "no pixel spacing" in msg
    out = _run(tiny_cohort, settings={"unreadable": "drop"})
    assert pd.read_csv(out / "excluded.csv").values[:, :2].tolist() == [["T4", "unreadable"]]


# --------------------------------------------------------------------------- small_roi

def test_small_roi_after_resampling_and_empty_mask_stop_or_drop(tiny_cohort, tmp_path_factory):
    small = np.zeros((40, 40))
    small[10:13, 10:13] = 1  # 9 pixels of 0.2 mm: 2 x 2 = 4 pixels of 0.5 mm (hand-counted)
    _write_mask(tiny_cohort, "T3", small)
    _write_mask(tiny_cohort, "T0", np.zeros((40, 40)))
    pre = {"spacing": [0.5, 0.5], "min_roi_voxels": 5}
    msg = _fails(tiny_cohort, preprocess=pre)
    m = tiny_cohort / "manifest.csv"
    assert msg.startswith("2 input problems")
    assert f"{m}, row 4, column 'mask': mask {_img(tiny_cohort, 'T3', True)} (rater A): the ROI has 4 voxel(s)" in msg
    assert f"{m}, row 1, column 'mask': mask {_img(tiny_cohort, 'T0', True)} is empty" in msg
    assert "validate.small_roi: drop" in msg
    assert _fails(tiny_cohort, preprocess=pre, settings={"unreadable": "drop"}).startswith("2 input problems")

    out = _run(tiny_cohort, preprocess=pre, settings={"small_roi": "drop"})
    ex = pd.read_csv(out / "excluded.csv")
    assert ex[["patient_id", "problem"]].values.tolist() == [["T0", "small_roi"], ["T3", "small_roi"]]
    assert "is empty" in ex.reason[0] and "the ROI has 4 voxel(s) after resampling to [0.5, 0.5] mm" in ex.reason[1]
    ref = _without(tiny_cohort, ["T0", "T3"], tmp_path_factory.mktemp("ref") / "c")
    _same_tables(out, _run(ref, preprocess=pre))


# --------------------------------------------------------------------------- missing_outcome

def test_missing_outcome_and_missing_clinical_row_stop_or_drop(tiny_cohort, tmp_path_factory):
    def f(d):
        d["ln_status"] = d["ln_status"].astype(object)
        d.loc[1, "ln_status"] = None  # T1, clinical row 2
        return d[d.patient_id != "T4"]  # T4: in the manifest (row 5), no clinical row

    _edit(tiny_cohort / "clinical.csv", f)
    msg = _fails(tiny_cohort)
    c, m = tiny_cohort / "clinical.csv", tiny_cohort / "manifest.csv"
    assert msg.startswith("2 input problems")
    assert f"{c}, row 2, column 'ln_status': outcome missing" in msg
    assert f"{m}, row 5, column 'patient_id': patient T4 is in the manifest but not in the clinical table" in msg
    assert msg.count("validate.missing_outcome: drop") == 2

    out = _run(tiny_cohort, settings={"missing_outcome": "drop"})
    ex = pd.read_csv(out / "excluded.csv")
    assert ex[["patient_id", "problem"]].values.tolist() == [["T1", "missing_outcome"], ["T4", "missing_outcome"]]
    assert "row 2, column 'ln_status'" in ex.reason[0] and "row 5, column 'patient_id'" in ex.reason[1]
    ref = _without(tiny_cohort, ["T1", "T4"], tmp_path_factory.mktemp("ref") / "c")
    _same_tables(out, _run(ref))


# --------------------------------------------------------------------------- across classes

def test_problems_of_other_kinds_always_stop(tiny_cohort):
    def f(d):
        d["age"], d["ln_status"] = d["age"].astype(object), d["ln_status"].astype(object)
        d.loc[2, "age"] = "fifty"
        d.loc[4, "ln_status"] = "yes"
        return d

    _edit(tiny_cohort / "clinical.csv", f)
    _truncate(_img(tiny_cohort, "T1"))
    msg = _fails(tiny_cohort, settings=DROP_ALL)
    assert msg.startswith("2 input problems")  # the unreadable patient is dropped, the rest stops
    assert "row 3, column 'age': non-numeric value 'fifty'" in msg and "row 5, column 'ln_status': outcome must" in msg


def test_a_patient_with_problems_of_two_classes_one_row_per_class(tiny_cohort):
    _truncate(_img(tiny_cohort, "T5"))
    _edit(tiny_cohort / "clinical.csv", lambda d: d.assign(ln_status=d.ln_status.astype(object).where(
        d.patient_id != "T0", None)))
    _edit(tiny_cohort / "manifest.csv", lambda d: pd.concat([d, d[d.patient_id == "T0"].assign(
        rater="B", mask="img/T0_B.nii.gz")], ignore_index=True))
    _write_mask(tiny_cohort, "T0", np.zeros((40, 40)))  # rater A's mask empty, rater B's file missing
    out = _run(tiny_cohort, settings=DROP_ALL)
    ex = pd.read_csv(out / "excluded.csv")
    # T0's outcome is not judged once its files have excluded it
    assert ex[["patient_id", "problem"]].values.tolist() == [["T0", "unreadable"], ["T0", "small_roi"],
                                                            ["T5", "unreadable"]]
    # a class left at stop does not stop a patient another class excludes
    shutil.rmtree(out)
    out = _run(tiny_cohort, settings={"unreadable": "drop"})
    assert pd.read_csv(out / "excluded.csv").problem.tolist() == ["unreadable", "unreadable"]


def test_missing_view_drop_shares_the_table(tiny_cohort):
    _edit(tiny_cohort / "manifest.csv", lambda d: d[d.patient_id != "T2"].pipe(lambda x: pd.concat(
        [x, pd.DataFrame([dict(patient_id="T2", modality="US", view="node", image="img/T2.nii.gz",
                               mask="img/T2_A.nii.gz", rater="A")])], ignore_index=True)))
    out = _run(tiny_cohort, settings={"missing_view": "drop"})
    assert pd.read_csv(out / "excluded.csv").values.tolist() == [
        ["T2", "missing_view", "no US tumor image with a primary-rater mask"]]


def _cohort(d, n):
    """n small 2D US patients, alternating outcome (like the tiny cohort)."""
    rng = np.random.default_rng(1)
    (d / "img").mkdir(parents=True)
    rows, clin = [], []
    for i in range(n):
        pid = f"T{i}"
        img = sitk.GetImageFromArray(rng.normal(100, 10, (40, 40)).astype(np.float32))
        img.SetSpacing((0.2, 0.2))
        sitk.WriteImage(img, str(_img(d, pid)))
        _write_mask(d, pid, np.pad(np.ones((15, 18)), ((10, 15), (12, 10))))
        rows.append(dict(patient_id=pid, modality="US", view="tumor", image=f"img/{pid}.nii.gz",
                         mask=f"img/{pid}_A.nii.gz", rater="A"))
        clin.append(dict(patient_id=pid, ln_status=i % 2, age=50 + i, margin="round"))
    pd.DataFrame(rows).to_csv(d / "manifest.csv", index=False)
    pd.DataFrame(clin).to_csv(d / "clinical.csv", index=False)
    return d


def test_class_counts_are_checked_after_the_drops(tmp_path):
    d = _cohort(tmp_path / "c", 16)
    split = {"method": "random", "test_fraction": 0.3, "external": None}
    shutil.rmtree(_run(d, split=split))  # 8 per class: enough for the split and 2 folds
    ref = _without(d, ["T1", "T3"], tmp_path / "ref")
    ref_msg = _fails(ref, split=split)  # 6 positives: too few, by hand
    assert "the training cohort would hold" in ref_msg
    for pid in ("T1", "T3"):
        _truncate(_img(d, pid))
    msg = _fails(d, split=split, settings={"unreadable": "drop"})
    assert msg.replace(str(d), "") == ref_msg.replace(str(ref), "")


def test_a_drop_leaving_one_class_or_nobody_stops(tiny_cohort):
    for pid in ("T1", "T3", "T5"):  # every positive
        _img(tiny_cohort, pid).unlink()
    msg = _fails(tiny_cohort, settings={"unreadable": "drop"})
    assert msg.startswith("1 input problem")
    assert "column 'ln_status': outcome has one class only (0) after excluding 3 patient(s)" in msg
    for pid in ("T0", "T2", "T4"):
        _img(tiny_cohort, pid).unlink()
    assert "every patient was excluded (unreadable: 6)" in _fails(tiny_cohort, settings={"unreadable": "drop"})


def test_a_missing_outcome_drop_leaving_one_class_stops(tiny_cohort):
    # missing outcomes are not judged by the clinical check's class count; the count after drops is
    _edit(tiny_cohort / "clinical.csv", lambda d: d.assign(ln_status=d.ln_status.where(d.ln_status == 0)))
    msg = _fails(tiny_cohort, settings={"missing_outcome": "drop"})
    assert msg.startswith("1 input problem") and ("outcome has one class only (0) after excluding 3 patient(s) "
                                                  "(missing_outcome: 3)") in msg


def test_counts_logged(tiny_cohort, caplog):
    _truncate(_img(tiny_cohort, "T2"))
    _write_mask(tiny_cohort, "T3", np.zeros((40, 40)))
    with caplog.at_level("WARNING"):
        _run(tiny_cohort, settings=DROP_ALL)
    assert "2 of 6 patient(s) excluded (unreadable 1, small_roi 1; listed in validate/excluded.csv); 4 analysed" \
        in caplog.text


# --------------------------------------------------------------------------- per-image jobs

def _validated(d, patients):
    p = d / "validated.csv"
    pd.DataFrame([dict(row=i + 1, patient_id=pid, modality="US", view="tumor", image="x", mask="y", rater="A")
                  for i, pid in enumerate(patients)]).to_csv(p, index=False)
    return p


def test_excluded_image_gets_markers_without_being_read(tiny_cohort, tmp_path):
    from axilla import qc, radiomics
    from axilla.exclusion import computed, marker
    from axilla.preprocess import main as preprocess_main
    from axilla.radiomics import main as radiomics_main

    validated = _validated(tmp_path, ["T0"])
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"not an image")  # an unreadable file: never opened for an excluded patient
    prep = tmp_path / "preprocess" / "T1" / "US_tumor"
    preprocess_main(["--image", str(garbage), "--mask", f"A={garbage}", "--modality", "US", "--view", "tumor",
                     "--patient", "T1", "--validated", str(validated), "--out", str(prep)])
    assert [p.name for p in prep.iterdir()] == ["excluded.json"]
    assert marker(prep)["patient_id"] == "T1" and "excluded by validate" in marker(prep)["reason"]
    table = tmp_path / "radiomics" / "T1" / "US_tumor.csv"
    radiomics_main(["--prep", str(prep), "--params", "no-such-params.yaml", "--modality", "US", "--view", "tumor",
                    "--out", str(table)])
    assert pd.read_csv(table).columns.tolist() == ["excluded", "reason"]
    # the kept patient: the same files as without the exclusion arguments, byte for byte
    kept, plain = tmp_path / "preprocess" / "T0" / "US_tumor", tmp_path / "plain" / "T0" / "US_tumor"
    args = ["--image", str(_img(tiny_cohort, "T0")), "--mask", f"A={_img(tiny_cohort, 'T0', True)}",
            "--modality", "US", "--view", "tumor", "--settings", json.dumps({"spacing": [0.25, 0.25]})]
    preprocess_main([*args, "--patient", "T0", "--validated", str(validated), "--out", str(kept)])
    preprocess_main([*args, "--out", str(plain)])
    names = sorted(p.name for p in plain.iterdir())
    assert sorted(p.name for p in kept.iterdir()) == names and "image.nii.gz" in names
    for name in names:
        assert (kept / name).read_bytes() == (plain / name).read_bytes(), name
    # aggregators leave the marker out
    assert computed([str(kept), str(prep)]) == [str(kept)]
    assert qc.collect([str(kept), str(prep)], str(tmp_path)).patient_id.tolist() == ["T0"]
    params = tmp_path / "US.yaml"
    params.write_text("setting: {binWidth: 0.5}\nimageType: {Original: {}}\nfeatureClass: {firstorder: [Mean]}\n")
    radiomics_main(["--prep", str(kept), "--params", str(params), "--modality", "US", "--view", "tumor",
                    "--out", str(tmp_path / "radiomics" / "T0" / "US_tumor.csv")])
    wide, by = tmp_path / "wide.csv", tmp_path / "by.csv"
    radiomics.aggregate({"T0": [str(tmp_path / "radiomics" / "T0" / "US_tumor.csv")], "T1": [str(table)]}, "A",
                        str(wide), str(by))
    assert pd.read_csv(wide).patient_id.tolist() == ["T0"]


def test_preprocess_rule_passes_the_validated_manifest_only_when_validation_may_exclude():
    from axilla.preprocess import index_rows, rule_extra_args

    images = pd.DataFrame([dict(patient_id="P1", modality="US", view="tumor", image="a", mask="b", rater="A")])
    assert rule_extra_args(index_rows(images), "P1", "US", "tumor", section("preprocess.US")) == ""
    assert rule_extra_args(index_rows(images), "P1", "US", "tumor", section("preprocess.US"), "results/s/validate/manifest.csv") \
        == "--patient P1 --validated results/s/validate/manifest.csv"
    assert not section("validate").excludes_after_parse
    assert not section("validate", missing_view="drop").excludes_after_parse
    assert all(section("validate", **{k: "drop"}).excludes_after_parse for k in DROP_ALL)


# --------------------------------------------------------------------------- the report's flow diagram

def test_flow_diagram_draws_each_count():
    from axilla.report import figures

    cohorts = pd.DataFrame(dict(cohort=["train", "internal"], patients=[26, 11], positive=[10, 4]))
    fig = figures.cohort_flow([("Image manifest", 40), ("Clinical table", 39)],
                              [("image or mask unreadable", 2), ("outcome missing", 1)], 3, cohorts)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "Patients assessed\nn = 40" in texts and "Analysed\nn = 37" in texts  # 26 + 11, and + 3 excluded
    assert "Excluded\nn = 3\n• image or mask unreadable: 2\n• outcome missing: 1" in texts
    assert "Image manifest\nn = 40 patients" in texts and "Clinical table\nn = 39 patients" in texts
    assert "train\nn = 26\nnode-positive 10" in texts and "internal\nn = 11\nnode-positive 4" in texts
    kept = figures.cohort_flow([("Image manifest", 40)], [], 0, cohorts, [("lacking MRI", 7), ("lacking US_node", 2)])
    texts = [t.get_text() for t in kept.axes[0].texts]
    assert "Analysed\nn = 37\nof whom 7 lacking MRI\nof whom 2 lacking US_node" in texts


# --------------------------------------------------------------------------- a small whole study


@pytest.mark.slow
@pytest.mark.xdist_group(name="realstudy")
def test_a_study_with_drops_runs_to_the_report_without_the_excluded():
    """tests/realstudy.py: one patient's mask too small after resampling, one's truncated, both dropped."""
    import subprocess
    import sys

    import realstudy

    wd = realstudy.run()
    res = realstudy.results(wd)
    ex = pd.read_csv(res / "validate" / "excluded.csv")
    assert ex[["patient_id", "problem"]].values.tolist() == [[realstudy.SMALL_ROI, "small_roi"],
                                                              [realstudy.UNREADABLE, "unreadable"]]
    gone = {realstudy.SMALL_ROI, realstudy.UNREADABLE}
    kept = set(pd.read_csv(wd / "data" / "clinical.csv").patient_id) - gone
    for table in ("split/split.csv", "features/radiomics.csv", "features/radiomics_by_rater.csv", "features/deep.csv",
                  "qc/preprocess.csv", "validate/clinical.csv", "validate/manifest.csv"):
        assert set(pd.read_csv(res / table).patient_id) == kept, table
    for pid in gone:  # the per-image jobs ran and left markers, never reading the files
        assert [p.name for p in (res / "preprocess" / pid / "US_tumor").iterdir() if not p.name.startswith(".")] \
            == ["excluded.json"]
        assert pd.read_csv(res / "radiomics" / pid / "US_tumor.csv").columns.tolist() == ["excluded", "reason"]
    report = (res / "report.html").read_text()
    n = realstudy.N_PATIENTS
    assert f"{n} patients assessed, 2 excluded (image or mask unreadable 1; no ROI or ROI too small 1), {n - 2} analysed" \
        in report
    assert f'alt="Cohort flow: {n} patients assessed, 2 excluded' in report
    # the graph of jobs is complete before validation has run, and complete after the run
    dry = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "-n"], cwd=wd, capture_output=True,
                         text=True, timeout=600)
    assert "Nothing to be done" in dry.stdout + dry.stderr
