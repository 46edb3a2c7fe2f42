"""Radiomics per image: all raters' masks (and peritumoral rings) from one set of filtered images,
equal to pyradiomics' per-mask `execute`; planar images; the shipped parameter files' feature
counts and names."""

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from axilla import radiomics

ROOT = Path(__file__).resolve().parents[1]
TEXTURE = ["firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
FIRSTORDER = ["10Percentile", "90Percentile", "Energy", "Entropy", "InterquartileRange", "Kurtosis", "Maximum",
              "MeanAbsoluteDeviation", "Mean", "Median", "Minimum", "Range", "RobustMeanAbsoluteDeviation",
              "RootMeanSquared", "Skewness", "TotalEnergy", "Uniformity", "Variance"]


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.normal(size=shape).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 0.7, 1.5)[: len(shape)])
    return img


def _mask(img, lo, hi):
    arr = np.zeros(sitk.GetArrayViewFromImage(img).shape, np.uint8)
    arr[tuple(slice(a, b) for a, b in zip(lo, hi))] = 1
    m = sitk.GetImageFromArray(arr)
    m.CopyInformation(img)
    return m


def _per_mask(params, img, masks):
    ex = radiomics.make_extractor(params)
    return {r: {k: float(v) for k, v in ex.execute(img, m).items() if not k.startswith("diagnostics_")}
            for r, m in masks.items()}


def _shared(params, img, masks):
    out = radiomics.extract_masks(radiomics.make_extractor(params), img, masks)
    return {r: {k: float(v) for k, v in f.items()} for r, f in out.items()}


def test_shared_filters_equal_per_mask_execute_3d():
    img = _image((10, 18, 18))
    # overlapping masks of different extent: different bounding boxes, one union for LBP3D
    masks = {"A": _mask(img, (2, 4, 4), (8, 13, 12)), "B": _mask(img, (1, 5, 3), (9, 14, 11))}
    params = {"setting": {"binWidth": 0.5, "label": 1},
              "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}, "Wavelet": {},
                            "LBP3D": {"binWidth": 0.5}},
              "featureClass": {"shape": None, "firstorder": None, "glcm": None}}
    expected, got = _per_mask(params, img, masks), _shared(params, img, masks)
    assert got.keys() == expected.keys()
    for r in masks:
        assert got[r].keys() == expected[r].keys()
        assert len(got[r]) == 14 + 42 * (1 + 1 + 8 + 3)  # shape + (18 + 24) x images
        np.testing.assert_allclose([got[r][k] for k in expected[r]], list(expected[r].values()), rtol=1e-12, equal_nan=True)
    assert got["A"]["original_shape_VoxelVolume"] != got["B"]["original_shape_VoxelVolume"]


def test_shared_filters_equal_per_mask_execute_2d_and_planar_handling():
    img = _image((40, 44), seed=1)
    masks = {"A": _mask(img, (8, 10), (25, 30)), "A2": _mask(img, (9, 9), (26, 31)), "B": _mask(img, (5, 12), (22, 33))}
    params = {"setting": {"binWidth": 0.5, "label": 1, "force2D": True, "force2Ddimension": 0},
              "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}, "Wavelet": {}, "LBP2D": {"binWidth": 1.0}},
              "featureClass": {"shape2D": None, "firstorder": None, "glcm": None}}
    # pyradiomics' correct treatment of a 2D image is without force2D (which would drop an
    # in-plane axis from the GLCM angles and the wavelet): what axilla runs.
    plain = {**params, "setting": {"binWidth": 0.5, "label": 1}}
    expected, got = _per_mask(plain, img, masks), _shared(params, img, masks)
    for r in masks:
        assert got[r].keys() == expected[r].keys()
        np.testing.assert_allclose([got[r][k] for k in expected[r]], list(expected[r].values()), rtol=1e-12)
    assert {k.split("_")[0] for k in got["A"]} == {"original", "log-sigma-1-0-mm-3D", "wavelet-LL", "wavelet-LH",
                                                   "wavelet-HL", "wavelet-HH", "lbp-2D"}
    # the same image stored as a one-slice volume (as a DICOM mammogram reads) gives the same
    # features, LoG included (pyradiomics skips LoG on a volume with fewer than 4 slices)
    vol = sitk.JoinSeries(img)
    vmasks = {r: sitk.JoinSeries(m) for r, m in masks.items()}
    got3 = _shared(params, vol, vmasks)
    assert got3["B"].keys() == got["B"].keys()
    np.testing.assert_allclose([got3["B"][k] for k in got["B"]], list(got["B"].values()), rtol=1e-10)


def test_shipped_parameter_files_counts_and_column_names(tmp_path):
    counts = {}
    for modality, view, shape, name in [("MG", "CC", (60, 64), "MG"), ("US", "tumor", (60, 64), "US"),
                                        ("MRI", "T2", (20, 28, 28), "MRI"), ("MRI", "T2", (20, 28, 28), "MRI_LBP3D")]:
        img = _image(shape, seed=2)
        lo = tuple(s // 4 for s in shape)
        hi = tuple(3 * s // 4 for s in shape)
        prep = tmp_path / name
        prep.mkdir()
        sitk.WriteImage(img, str(prep / "image.nii.gz"))
        sitk.WriteImage(_mask(img, lo, hi), str(prep / "mask-A.nii.gz"))
        sitk.WriteImage(_mask(img, lo, tuple(h + 1 for h in hi)), str(prep / "mask-B.nii.gz"))
        out = tmp_path / f"{name}.csv"
        radiomics.main(["--prep", str(prep), "--params", str(ROOT / "resources" / "radiomics" / f"{name}.yaml"),
                        "--modality", modality, "--view", view, "--out", str(out)])
        with open(out) as fh:
            rows = list(csv.DictReader(fh))
        names = [r["feature"] for r in rows if r["rater"] == "A"]
        assert len(names) == len(set(names)) == len([r for r in rows if r["rater"] == "B"])
        pattern = re.compile(rf"^{modality}_{view}_(original|log-sigma-[0-9-]+mm-3D|wavelet-[LH]+|lbp-(2D|3D-m1|3D-m2|3D-k))"
                             rf"_(shape|shape2D|{'|'.join(TEXTURE)})_[A-Za-z0-9]+$")
        assert all(pattern.match(n) for n in names), [n for n in names if not pattern.match(n)][:5]
        assert all(np.isfinite(float(r["value"])) or r["value"] == "nan" for r in rows)
        counts[name] = len(names)
        # the parameter file's own claim in its header comment
        assert f"= {counts[name]:,} features" in (ROOT / "resources" / "radiomics" / f"{name}.yaml").read_text()
    assert 2 * counts["MG"] >= 1500 and counts["MRI"] >= 900 and counts["US"] >= 700
    assert counts["MRI_LBP3D"] - counts["MRI"] == 3 * 93  # m1, m2 and k images, every class but shape


def test_shared_extraction_without_masks_and_with_internal_resampling_runs_per_mask():
    img = _image((12, 20, 20), seed=3)
    assert radiomics.extract_masks(radiomics.make_extractor({"featureClass": {"firstorder": None}}), img, {}) == {}
    masks = {"A": _mask(img, (3, 5, 5), (9, 15, 15)), "B": _mask(img, (2, 4, 6), (10, 14, 16))}
    # pyradiomics crops image and mask together when it resamples, so filtered images differ
    # per mask: axilla must fall back to per-mask execution and agree with it
    params = {"setting": {"binWidth": 0.5, "resampledPixelSpacing": [1, 1, 1], "interpolator": "sitkBSpline"},
              "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}}, "featureClass": {"firstorder": None}}
    expected, got = _per_mask(params, img, masks), _shared(params, img, masks)
    for r in masks:
        np.testing.assert_allclose([got[r][k] for k in expected[r]], list(expected[r].values()), rtol=1e-12)


def _prep(tmp_path, name, ring_mm):
    """A preprocessed 3D image folder (raters A and B; rings when ring_mm) from axilla.preprocess."""
    from axilla.preprocess import preprocess_image
    from axilla.settings import section

    from imaging_helpers import blob_volume

    img, mask = blob_volume(shape=(8, 24, 28), centre=(4, 12, 13), radius=5)
    ip, mp, bp = (str(tmp_path / f"{name}_{k}.nii.gz") for k in ("img", "A", "B"))
    for arr, path in ((img.astype(np.float32), ip), (mask, mp), (np.roll(mask, 1, axis=2), bp)):
        a = sitk.GetImageFromArray(arr)
        a.SetSpacing((0.8, 0.8, 2.0))
        sitk.WriteImage(a, path)
    out = tmp_path / name
    preprocess_image(ip, {"A": mp, "B": bp}, "MRI", "T2", section("preprocess.MRI", normalize="none", ring_mm=ring_mm),
                     str(out))
    return out


def _run_radiomics(prep, params, out):
    radiomics.main(["--prep", str(prep), "--params", str(params), "--modality", "MRI", "--view", "T2",
                    "--out", str(out)])
    with open(out) as fh:
        return {(r["rater"], r["feature"]): float(r["value"]) for r in csv.DictReader(fh)}


def test_peritumoral_ring_features_named_with_roi_and_equal_pyradiomics_on_the_ring(tmp_path, monkeypatch):
    from radiomics import imageoperations

    params = tmp_path / "cheap.yaml"
    params.write_text("setting: {binWidth: 25, label: 1}\nimageType: {Original: {}}\nfeatureClass: {firstorder: []}\n")
    calls = []
    original = imageoperations.getOriginalImage

    def counted(*args, **kwargs):
        calls.append(1)
        yield from original(*args, **kwargs)

    monkeypatch.setattr(imageoperations, "getOriginalImage", counted)
    plain = _run_radiomics(_prep(tmp_path, "plain", None), params, tmp_path / "plain.csv")
    assert len(calls) == 1
    # without a ring the columns are the ROI's alone, named as before rings existed
    assert {f for _, f in plain} == {f"MRI_T2_original_firstorder_{n}" for n in FIRSTORDER}
    prep = _prep(tmp_path, "ringed", 2.0)
    assert radiomics.raters_in(prep, "ring") == ["A", "B"]
    calls.clear()
    got = _run_radiomics(prep, params, tmp_path / "ringed.csv")
    assert len(calls) == 1  # the image is filtered once for two ROIs and two rings
    assert {f for _, f in got} == ({f"MRI_T2_original_firstorder_{n}" for n in FIRSTORDER}
                                   | {f"MRI_T2_ring_original_firstorder_{n}" for n in FIRSTORDER})
    assert {k: v for k, v in got.items() if "_ring_" not in k[1]} == plain  # ROI features unchanged
    monkeypatch.undo()
    image = sitk.ReadImage(str(prep / "image.nii.gz"))
    ex = radiomics.make_extractor(str(params))
    for rater in ("A", "B"):
        ring = sitk.ReadImage(str(prep / f"ring-{rater}.nii.gz"))
        expected = ex.execute(image, ring)
        for n in FIRSTORDER:
            assert got[(rater, f"MRI_T2_ring_original_firstorder_{n}")] == pytest.approx(
                float(expected[f"original_firstorder_{n}"]), rel=1e-9)
    # the ring lies outside the bright lesion: darker than the ROI, and larger (2 mm all round)
    assert got[("A", "MRI_T2_ring_original_firstorder_Mean")] < got[("A", "MRI_T2_original_firstorder_Mean")] - 200
    ring_voxels = int(sitk.GetArrayFromImage(sitk.ReadImage(str(prep / "ring-A.nii.gz"))).sum())
    assert ring_voxels > int(sitk.GetArrayFromImage(sitk.ReadImage(str(prep / "mask-A.nii.gz"))).sum())
    # the wide table carries the primary rater's ring features beside the ROI's
    radiomics.aggregate({"P1": [str(tmp_path / "ringed.csv")]}, "A", str(tmp_path / "wide.csv"),
                        str(tmp_path / "by_rater.csv"))
    with open(tmp_path / "wide.csv") as fh:
        wide = next(csv.DictReader(fh))
    assert float(wide["MRI_T2_ring_original_firstorder_Mean"]) == got[("A", "MRI_T2_ring_original_firstorder_Mean")]
    # every rater's ring is in the per-rater table, so the ICC filter can judge ring features
    with open(tmp_path / "by_rater.csv") as fh:
        by_rater = {r["rater"]: r for r in csv.DictReader(fh)}
    key = "MRI_T2_ring_original_firstorder_Mean"
    assert float(by_rater["B"][key]) == got[("B", key)] != got[("A", key)]
