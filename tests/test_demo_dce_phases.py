"""Demo cohort with DCE phases up to 4 (seed 004 uses phase 4): the extra phases come from a stream
of their own, so every other file equals the two-phase cohort's byte for byte, and the tumour's
mean signal over the phases follows one wash-in / wash-out curve."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage

from axilla import demo
from axilla.errors import InputError

N, SEED = 8, 42


@pytest.fixture(scope="module")
def two_and_four(tmp_path_factory):
    root = tmp_path_factory.mktemp("dce")
    demo.generate(root / "two", n_patients=N, seed=SEED, rater_fraction=0.5)
    demo.generate(root / "four", n_patients=N, seed=SEED, rater_fraction=0.5, dce_phases=4, workers=2)
    return root / "two", root / "four"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_extra_phases_change_no_other_file(two_and_four):
    two, four = map(_files, two_and_four)
    extra = {k for k in four if "MRI_DCE3" in k or "MRI_DCE4" in k}
    assert len([k for k in extra if k.startswith("images/")]) == 2 * N
    assert set(four) - extra == set(two)
    differing = sorted(k for k in two if two[k] != four[k])
    assert differing == ["README.md", "manifest.csv"]  # they list the extra phases
    assert two["clinical.csv"] == four["clinical.csv"] and two["truth.csv"] == four["truth.csv"]
    m2 = pd.read_csv(two_and_four[0] / "manifest.csv", dtype=str)
    m4 = pd.read_csv(two_and_four[1] / "manifest.csv", dtype=str)
    assert m4[~m4.view.isin(["DCE3", "DCE4"])].reset_index(drop=True).equals(m2)
    assert m4.equals(demo.plan(N, SEED, 0.5, dce_phases=4))


def test_same_arrays_and_geometry_for_shared_views(two_and_four):
    two, four = two_and_four
    for pid in ("P001", "P004"):
        for view in ("MRI_T2", "MRI_DCE1", "MRI_DCE2", "MRI_ADC", "MG_CC", "US_tumor"):
            a = sitk.ReadImage(str(two / "images" / pid / f"{view}.nii.gz"))
            b = sitk.ReadImage(str(four / "images" / pid / f"{view}.nii.gz"))
            assert np.array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
        d3 = sitk.ReadImage(str(four / "images" / pid / "MRI_DCE3.nii.gz"))
        d1 = sitk.ReadImage(str(four / "images" / pid / "MRI_DCE1.nii.gz"))
        assert d3.GetSpacing() == d1.GetSpacing() and d3.GetSize() == d1.GetSize()
        m3 = sitk.GetArrayFromImage(sitk.ReadImage(str(four / "masks" / pid / "MRI_DCE3_A.nii.gz")))
        m1 = sitk.GetArrayFromImage(sitk.ReadImage(str(four / "masks" / pid / "MRI_DCE1_A.nii.gz")))
        assert np.array_equal(m3, m1)  # rater A outlines the one tumour on every phase


def _phase_means(root: Path, pid: str) -> np.ndarray:
    """Mean signal per phase over the tumour core (rater A's mask eroded in-plane: no partial volume)."""
    m = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "masks" / pid / "MRI_DCE1_A.nii.gz"))).astype(bool)
    core = ndimage.binary_erosion(m, structure=np.ones((1, 3, 3)))
    return np.array([sitk.GetArrayFromImage(sitk.ReadImage(str(root / "images" / pid / f"MRI_DCE{k}.nii.gz")))
                     .astype(float)[core].mean() for k in range(1, 5)])


def _reference_curve(w: float = 0.08) -> np.ndarray:
    """A(k) / A(1), k = 1..4, of A(k) = E (1 - q^k) exp(-w k) through A(1) = 600, A(2) = 820
    (the two-phase demo's amplitudes), solved here: A(2) / A(1) = (1 + q) exp(-w)."""
    q = 820 / 600 * math.exp(w) - 1
    a = np.array([(1 - q ** k) * math.exp(-w * k) for k in range(1, 5)])
    return a / a[0]


def test_tumour_enhancement_follows_one_washin_washout_curve(two_and_four):
    _, four = two_and_four
    assert demo.kinetics.WASHOUT == 0.08
    ref = _reference_curve()
    assert ref[2] > ref[1] > 1 and ref[3] < ref[2]  # peak at phase 3, then wash-out (type III)
    r = np.array([(lambda s: s / s[0])(_phase_means(four, pid)) for pid in demo.plan(N, SEED, 0.5).patient_id.unique()])
    # phase-to-phase steps: the coil field, gain and lesion size cancel; the texture / rim /
    # necrosis contrasts also change with the phase (most from DCE1 to DCE2, the demo's original
    # phases), which shifts single patients
    steps, ref_steps = r[:, 1:] / r[:, :-1], ref[1:] / ref[:-1]
    assert np.abs(np.median(steps, axis=0) - ref_steps).max() < 0.02
    assert np.abs(steps[:, 1:] - ref_steps[1:]).max() < 0.04  # DCE3 / DCE2 and DCE4 / DCE3
    assert (r[:, 2] > r[:, 1]).all() and (r[:, 3] < r[:, 2]).all()  # every tumour peaks at phase 3


def test_model_amplitudes_pass_through_the_original_two_phases():
    k = demo.kinetics
    assert [k.amplitude(1), k.amplitude(2)] == pytest.approx([600.0, 820.0])
    assert demo.DCE_TUMOUR["DCE3"][0] == pytest.approx(k.amplitude(3))
    assert demo.DCE_TUMOUR["DCE1"][0] == 600.0 and demo.DCE_TUMOUR["DCE2"][0] == 820.0


def test_phases_from_the_study_views():
    assert demo.dce_phases_for({"MRI": ["T2", "DCE2"]}) == 2
    assert demo.dce_phases_for({"MG": ["CC"]}) == 2
    assert demo.dce_phases_for({"MRI": ["DCE4"]}) == 4
    assert demo.folder(120, 42) == "n120_seed42" and demo.folder(120, 42, 4) == "n120_seed42_dce4"
    with pytest.raises(InputError, match="DCE5"):
        demo.dce_phases_for({"MRI": ["DCE5"]})
    with pytest.raises(InputError, match="2 to 4 DCE phases"):
        demo.plan(4, 1, 0.0, dce_phases=5)
