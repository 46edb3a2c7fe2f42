"""Two runs of the same small study from the same config seed give identical results, file by file.

The second run is the fault tests' killed-and-resumed run (smallstudy.resumed): it computes every
job afresh in its own working copy, and sharing it saves the suite a whole study run."""

import pytest

import smallstudy


@pytest.mark.slow
@pytest.mark.xdist_group(name="smallstudy")
def test_two_runs_identical():
    ref = smallstudy.reference()
    again = smallstudy.resumed().dir
    a, b = smallstudy.digest(ref), smallstudy.digest(again)
    # Every stage is covered: demo cohort aside, the run wrote tables, models, predictions, report.
    for path in ["validate/clinical.csv", "split/split.csv", "features/radiomics.csv", "features/deep.csv",
                 "selection/radiomics/selected.csv", "models/deep/model.pkl", "predictions/internal.csv",
                 "metrics/internal.csv", "report.html"]:
        assert path in a, path
    assert sorted(a) == sorted(b)
    differ = [p for p in a if a[p] != b[p]]
    assert differ == [], f"results differ between two runs with one seed: {differ}"
    # The synthetic cohort itself is regenerated identically too.
    demo = "resources/demo/n24_seed3"
    for name in ["clinical.csv", "manifest.csv"]:
        assert (ref / demo / name).read_bytes() == (again / demo / name).read_bytes()
