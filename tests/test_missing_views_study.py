"""Acceptance (issue 19): a study with a fifth of its patients lacking MRI runs to a complete report
under validate.missing_view: allow; each model scores the patients having its views. The study
(tests/realstudy.py) also drops two patients for damaged / too small masks (test_exclusions.py)."""

import pandas as pd
import pytest

import realstudy


@pytest.mark.slow
@pytest.mark.xdist_group(name="realstudy")
def test_study_with_a_fifth_of_patients_lacking_mri_runs_to_a_report():
    d = realstudy.run()
    res = realstudy.results(d)
    manifest = pd.read_csv(d / "data" / "manifest.csv")
    gone = {realstudy.SMALL_ROI, realstudy.UNREADABLE}
    everyone = set(manifest.patient_id) - gone
    with_mri = set(manifest.patient_id[manifest.modality == "MRI"]) - gone
    n_lacking = round(realstudy.LACKING_MRI * realstudy.N_PATIENTS)  # demo.missing draws exactly this many
    assert len(set(manifest.patient_id) - set(manifest.patient_id[manifest.modality == "MRI"])) == n_lacking
    lacking_mri = everyone - with_mri

    avail = pd.read_csv(res / "validate" / "availability.csv")
    assert list(avail.columns) == ["patient_id", "MRI_T2", "US_tumor"]
    assert set(avail.patient_id) == everyone
    assert set(avail.patient_id[avail.MRI_T2 == 1]) == with_mri and (avail.US_tumor == 1).all()

    def scored(model):
        return set(pd.read_csv(res / "models" / model / "predictions.csv").patient_id)

    assert scored("mri") == with_mri
    assert scored("clinical") == scored("us") == scored("postfusion") == everyone
    table = pd.read_csv(res / "metrics" / "availability.csv")
    assert set(table.subgroup) == {"complete", "lacking MRI"}
    lacking = table[table.subgroup == "lacking MRI"]
    assert set(lacking.model) == {"clinical", "us", "postfusion"}
    assert lacking.groupby("model").n.sum().eq(len(lacking_mri)).all()
    # the per-cohort tables compare the models on the patients every model scores
    for c in ("train", "internal"):
        assert set(pd.read_csv(res / "predictions" / f"{c}.csv").patient_id) <= with_mri
    report = (res / "report.html").read_text()
    assert "Patients with absent views" in report and "Mercaldo" in report
    # the flow diagram counts the patients kept without MRI among the analysed
    assert f"{len(everyone)} analysed, of whom {len(lacking_mri)} lacking MRI" in report
