"""reproducibility.source: perturbation — the primary rater's mask eroded, dilated and contour-
randomised (axilla.mask_perturbation), extracted as pseudo-raters by the radiomics job, and the ICC
across them; `source: raters` unchanged. References: scipy.ndimage's morphology, pixel counts of
squares by formula, pingouin's ICC, and the ICC table the code wrote before perturbations existed."""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import SimpleITK as sitk
from scipy import ndimage

from axilla import mask_perturbation as mp
from axilla import radiomics
from axilla import reproducibility as rep

REFERENCE = Path(__file__).parent / "reference" / "reproducibility_raters"
PARAMS = {"setting": {"binWidth": 1.0, "label": 1, "force2D": True, "force2Ddimension": 0},
          "imageType": {"Original": {}},
          "featureClass": {"shape2D": ["PixelSurface"], "firstorder": ["Mean", "Variance"]}}
AREA = "US_tumor_original_shape2D_PixelSurface"


def _blob(shape, seed):
    """A random smooth blob (connected, no holes) well inside the array."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    grid = np.indices(shape)
    centre = np.array(shape)[:, None, None] / 2 if len(shape) == 2 else np.array(shape)[:, None, None, None] / 2
    r = np.sqrt(((grid - centre) ** 2).sum(axis=0))
    m = r + 8 * field < min(shape) / 3
    labels, _ = ndimage.label(m)
    return ndimage.binary_fill_holes(labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1)


def _pingouin(x: np.ndarray) -> dict:
    n, k = x.shape
    long = pd.DataFrame({"t": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "s": x.ravel()})
    res = pg.intraclass_corr(long, targets="t", raters="r", ratings="s").set_index("Type")
    return {"ICC2": res.loc["ICC(A,1)", "ICC"], "ICC3": res.loc["ICC(C,1)", "ICC"]}


# --------------------------------------------------------------------------- erosion / dilation

@pytest.mark.parametrize("shape", [(40, 44), (24, 30, 28)], ids=["2d", "3d"])
def test_erode_dilate_equal_scipy_with_the_face_connected_cross(shape):
    mask = _blob(shape, 3)
    cross = ndimage.generate_binary_structure(len(shape), 1)
    axes = mp.spatial_axes(shape)
    assert np.array_equal(mp.erode(mask, axes), ndimage.binary_erosion(mask, cross))
    assert np.array_equal(mp.dilate(mask, axes), ndimage.binary_dilation(mask, cross))


def test_one_slice_volume_and_force2d_volume_are_perturbed_in_plane():
    plane = _blob((40, 44), 4)
    cross2 = ndimage.generate_binary_structure(2, 1)
    one_slice = plane[None]  # a DICOM mammogram: a 1 x H x W volume
    axes = mp.spatial_axes(one_slice.shape)
    assert axes == (1, 2)
    assert np.array_equal(mp.erode(one_slice, axes)[0], ndimage.binary_erosion(plane, cross2))
    assert np.array_equal(mp.dilate(one_slice, axes)[0], ndimage.binary_dilation(plane, cross2))
    # a volume pyradiomics extracts slice by slice (force2D along numpy axis 0): each slice in-plane
    vol = np.stack([plane, np.roll(plane, 3, axis=1), plane])
    axes = mp.spatial_axes(vol.shape, flat_axis=0)
    got = mp.dilate(vol, axes)
    for z in range(3):
        assert np.array_equal(got[z], ndimage.binary_dilation(vol[z], cross2))


@pytest.mark.parametrize("shape, thin", [((30, 30), (slice(10, 11), slice(5, 25))),
                                         ((12, 30, 30), (slice(6, 7), slice(5, 20), slice(5, 20)))],
                         ids=["2d-line", "3d-slab"])
def test_erosion_of_a_one_voxel_thick_roi_is_skipped_and_logged(shape, thin, caplog):
    mask = np.zeros(shape, bool)
    mask[thin] = True
    with caplog.at_level(logging.WARNING, logger="axilla.mask_perturbation"):
        out = mp.perturbed_masks(mask, ["erode", "dilate"], 0, 1, "P1/US_tumor", mp.spatial_axes(shape))
    assert list(out) == ["~dilate"]
    assert "~erode leaves 0 voxels" in caplog.text and "skipped" in caplog.text


# --------------------------------------------------------------------------- contour randomisation

@pytest.mark.parametrize("shape", [(60, 64), (30, 40, 40)], ids=["2d", "3d"])
def test_contour_randomisation_properties(shape):
    mask = _blob(shape, 5)
    axes = mp.spatial_axes(shape)
    seed = mp.contour_seed(42, "P07/US_tumor", 1)
    a = mp.randomise_contour(mask, seed, axes)
    assert np.array_equal(a, mp.randomise_contour(mask, mp.contour_seed(42, "P07/US_tumor", 1), axes))
    others = [mp.randomise_contour(mask, mp.contour_seed(s, i, k), axes)
              for s, i, k in ((43, "P07/US_tumor", 1), (42, "P08/US_tumor", 1), (42, "P07/US_tumor", 2))]
    assert all(not np.array_equal(a, o) for o in others)  # study seed, image and index each change it
    for m in [a, *others]:
        assert not np.array_equal(m, mask)
        assert abs(int(m.sum()) - int(mask.sum())) <= 0.03 * mask.sum()  # the voxel count kept (±3 %)
        assert ndimage.label(m, ndimage.generate_binary_structure(len(shape), 1))[1] == 1  # one piece
        assert np.array_equal(m, ndimage.binary_fill_holes(m))
        # the boundary moves by about a voxel: changed voxels lie near the original boundary
        inside = ndimage.distance_transform_edt(mask)
        outside = ndimage.distance_transform_edt(~mask)
        moved = np.where(mask, inside, outside)[m != mask]
        assert moved.max() <= 5 and np.median(moved) <= 2
        changed = (m != mask).sum() / mask.sum()
        assert 0.01 < changed < 0.4


# --------------------------------------------------------------------------- the stage end to end

def _prep(d: Path, side: int | None, value: float, line: bool = False, second: bool = False) -> Path:
    """A preprocessed-image folder: a constant 2D image and a square ROI of `side` (or a line)."""
    d.mkdir(parents=True)
    img = sitk.GetImageFromArray(np.full((40, 40), value, np.float32))
    arr = np.zeros((40, 40), np.uint8)
    if line:
        arr[20:22, 8:30] = 1  # two pixels thick: the cross erodes it away
    else:
        arr[10:10 + side, 12:12 + side] = 1
    for rater, a in [("A", arr)] + ([("B", np.roll(arr, 1, axis=0))] if second else []):
        m = sitk.GetImageFromArray(a)
        m.CopyInformation(img)
        sitk.WriteImage(m, str(d / f"mask-{rater}.nii.gz"))
    sitk.WriteImage(img, str(d / "image.nii.gz"))
    return d


def _study(tmp_path, sides, thin=False):
    perturb = {"primary": "A", "kinds": ["erode", "dilate"], "contours": 0, "seed": 1}
    tables = {}
    cases = [(f"P{i:02d}", s, 10.0 + 3 * i, False) for i, s in enumerate(sides)]
    cases += [("Pthin", None, 5.0, True)] if thin else []
    for pid, side, value, line in cases:
        prep = _prep(tmp_path / "prep" / pid / "US_tumor", side, value, line, second=pid == "P00")
        out = tmp_path / "radiomics" / pid / "US_tumor.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        radiomics.extract_image(str(prep), PARAMS, "US", "tumor", str(out), 4,
                                perturb={**perturb, "image_id": f"{pid}/US_tumor"})
        tables[pid] = [str(out)]
    radiomics.aggregate(tables, "A", str(tmp_path / "radiomics.csv"), str(tmp_path / "by_rater.csv"))
    return tmp_path / "by_rater.csv"


@pytest.mark.parametrize("form", ["ICC2", "ICC3"])
def test_perturbation_icc_of_squares_equals_pingouin_on_hand_counted_areas(tmp_path, form):
    sides = [5, 7, 8, 10, 11, 13, 15, 16]
    by_rater_csv = _study(tmp_path, sides, thin=True)
    by_rater = pd.read_csv(by_rater_csv)
    assert set(by_rater.rater) == {"A", "B", "~erode", "~dilate"}
    # the wide primary-rater table holds rater A only, as without perturbations
    wide = pd.read_csv(tmp_path / "radiomics.csv", dtype={"patient_id": str})
    assert len(wide) == len(sides) + 1 and "rater" not in wide
    rep.run(str(by_rater_csv), [["A", "B"]], form, 0.75, str(tmp_path / "icc.csv"), str(tmp_path / "keep.csv"),
            source="perturbation", primary="A")
    icc = pd.read_csv(tmp_path / "icc.csv").set_index("feature")
    assert set(icc.pair) == {"A-~erode-~dilate"} and set(icc.kind) == {"perturbation"}  # B is not used
    # the thin ROI has no erosion: left out of the ICC
    assert (icc.n == len(sides)).all()
    # area of a square of side s: s^2; eroded by the cross (s-2)^2; dilated s^2 + 4s
    s = np.array(sides, float)
    expected = _pingouin(np.c_[s ** 2, (s - 2) ** 2, s ** 2 + 4 * s])
    assert icc.loc[AREA, "icc"] == pytest.approx(expected[form], abs=1e-9)
    assert icc.loc[AREA, "icc2"] == pytest.approx(expected["ICC2"], abs=1e-9)
    assert icc.loc[AREA, "icc3"] == pytest.approx(expected["ICC3"], abs=1e-9)
    # mean of a constant image: different per patient, the same for every mask: ICC exactly 1;
    # variance 0 for every patient and mask: ICC undefined (NaN), so the feature is dropped
    assert icc.loc["US_tumor_original_firstorder_Mean", "icc"] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(icc.loc["US_tumor_original_firstorder_Variance", "icc"])
    keep = pd.read_csv(tmp_path / "keep.csv").feature.tolist()
    assert "US_tumor_original_firstorder_Mean" in keep and "US_tumor_original_firstorder_Variance" not in keep
    assert (AREA in keep) == (expected[form] >= 0.75)


def test_radiomics_command_perturbs_rings_too(tmp_path):
    prep = _prep(tmp_path / "prep" / "P1" / "US_tumor", 9, 7.0)
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(prep / "mask-A.nii.gz"))) != 0
    cross = ndimage.generate_binary_structure(2, 1)
    ring = sitk.GetImageFromArray((ndimage.binary_dilation(arr, cross) & ~arr).astype(np.uint8))
    sitk.WriteImage(ring, str(prep / "ring-A.nii.gz"))
    (prep / "qc.json").write_text(json.dumps({"preprocessing": {"ring": {"applied": True, "mm": 1.0}}}))
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps(PARAMS))  # JSON is YAML
    out = tmp_path / "out.csv"
    radiomics.main(["--prep", str(prep), "--params", str(params), "--modality", "US", "--view", "tumor",
                    "--out", str(out), "--min-roi-voxels", "4", "--perturb", "dilate,contour", "--contours", "2",
                    "--seed", "3", "--primary", "A", "--image-id", "P1/US_tumor"])
    t = pd.read_csv(out)
    assert set(t.rater) == {"A", "~dilate", "~contour1", "~contour2"}
    area = t[t.feature == "US_tumor_ring_original_shape2D_PixelSurface"].set_index("rater").value
    # ring of 1 mm at 1 mm spacing: the face neighbours outside the ROI (scipy, not the EDT ring)
    dilated = ndimage.binary_dilation(arr, cross)
    assert area["~dilate"] == (ndimage.binary_dilation(dilated, cross) & ~dilated).sum()
    assert area["A"] == 4 * 9


# --------------------------------------------------------------------------- source: raters

def _raters_table():
    """14 patients, raters A, A2, B (B on 10); two views; US_node absent for P03 (every rater)."""
    rng = np.random.default_rng(17)
    rows = []
    for i in range(14):
        t_us, t_node = rng.normal(size=2) * 2
        for rater in ("A", "A2", "B"):
            if rater == "B" and i >= 10:
                continue
            e = rng.normal(scale=0.3, size=4)
            row = {"patient_id": f"P{i:02d}", "rater": rater,
                   "US_tumor_original_shape2D_PixelSurface": 100 + 10 * t_us + e[0],
                   "US_tumor_original_firstorder_Mean": t_us + (0.8 if rater == "B" else 0) + e[1],
                   "US_tumor_original_firstorder_Range": 1.0,
                   "US_node_original_firstorder_Mean": t_node + e[2] * 3,
                   "US_node_original_glcm_Contrast": t_node + e[3] * 0.1}
            if i == 3:
                row["US_node_original_firstorder_Mean"] = row["US_node_original_glcm_Contrast"] = np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def test_source_raters_writes_what_the_stage_wrote_before_perturbations(tmp_path):
    """The reference files were written by the reproducibility module as it was before
    `reproducibility.source` existed, from this same table."""
    _raters_table().to_csv(tmp_path / "by_rater.csv", index=False)
    for kw in ({}, {"source": "raters", "primary": "A"}):
        rep.run(str(tmp_path / "by_rater.csv"), [["A", "B"], ["A", "A2"]], "ICC2", 0.75, str(tmp_path / "icc.csv"),
                str(tmp_path / "keep.csv"), **kw)
        assert (tmp_path / "keep.csv").read_text() == (REFERENCE / "reproducible_features.csv").read_text()
        got, ref = pd.read_csv(tmp_path / "icc.csv"), pd.read_csv(REFERENCE / "icc.csv")
        pd.testing.assert_frame_equal(got, ref, rtol=1e-9)
        assert (tmp_path / "icc.csv").read_text().splitlines()[0] == (REFERENCE / "icc.csv").read_text().splitlines()[0]


def test_describe_source_names_what_the_icc_was_computed_over():
    from axilla import settings

    assert rep.describe_source(settings.section("reproducibility")) == "rater pairs A–B, A–A2"
    p = settings.section("reproducibility", source="perturbation", perturbation={"contours": 2})
    assert rep.describe_source(p) == ("the primary rater's mask and its perturbations (erosion and dilation by "
                                      "one voxel, 2 contour randomisations; after Zwanenburg et al. 2019), "
                                      "no second rater")
    assert mp.rater_names(["contour", "erode"], 2) == ["~erode", "~contour1", "~contour2"]


# --------------------------------------------------------------------------- ensemble members as raters

def test_segmentation_networks_are_raters_of_their_views_only():
    """`ensemble`: the networks' masks rate the segmented view (US) but not MG; each view's ICC
    is over its own raters, equal to pingouin's on the same values (MG: A and ~erode only)."""
    rng = np.random.default_rng(4)
    n = 8
    ids = [f"P{i}" for i in range(n)]
    us, mg = rng.normal(100, 20, n), rng.normal(50, 10, n)
    rows = []
    for rater, dus, dmg in (("A", 0, 0), ("~erode", -5, -3), ("~unet", 2, None), ("~unetpp", 4, None)):
        noise = rng.normal(0, 3, (2, n))
        for i, p in enumerate(ids):
            rows.append({"patient_id": p, "rater": rater, "US_tumor_original_shape2D_PixelSurface": us[i] + dus + noise[0, i],
                         "MG_CC_original_shape2D_PixelSurface": np.nan if dmg is None else mg[i] + dmg + noise[1, i]})
    table = pd.DataFrame(rows)
    icc = rep.perturbation_icc(table, "A", "ICC2").set_index("feature")
    assert icc.loc["US_tumor_original_shape2D_PixelSurface", "pair"] == "A-~erode-~unet-~unetpp"
    assert icc.loc["MG_CC_original_shape2D_PixelSurface", "pair"] == "A-~erode"
    assert (icc.n == n).all()
    for view, raters in (("US_tumor", ["A", "~erode", "~unet", "~unetpp"]), ("MG_CC", ["A", "~erode"])):
        col = f"{view}_original_shape2D_PixelSurface"
        x = np.stack([table[table.rater == r].set_index("patient_id").loc[ids, col].to_numpy() for r in raters], 1)
        assert icc.loc[col, "icc"] == pytest.approx(_pingouin(x)["ICC2"], abs=1e-9)


def test_the_radiomics_job_reads_each_networks_mask_as_a_rater(tmp_path):
    prep = _prep(tmp_path / "prep" / "P1" / "US_tumor", 9, 7.0)
    ref = sitk.ReadImage(str(prep / "mask-A.nii.gz"))
    seg = tmp_path / "segmentation" / "US_tumor"
    for net, side in (("unet", 10), ("unetpp", 0), ("deeplabv3", 8)):  # unetpp's mask is empty: skipped
        (seg / net).mkdir(parents=True)
        a = np.zeros(sitk.GetArrayViewFromImage(ref).shape, np.uint8)
        a[..., 10:10 + side, 12:12 + side] = 1
        img = sitk.GetImageFromArray(a)
        img.CopyInformation(ref)
        sitk.WriteImage(img, str(seg / net / "P1.nii.gz"))
    out = tmp_path / "r.csv"
    perturb = {"primary": "A", "kinds": ["ensemble"], "contours": 0, "seed": 1, "image_id": "P1/US_tumor",
               "ensemble": str(seg)}
    radiomics.extract_image(str(prep), PARAMS, "US", "tumor", str(out), 4, perturb=perturb)
    t = pd.read_csv(out)
    area = t[t.feature == AREA].set_index("rater").value
    assert set(area.index) == {"A", "~unet", "~deeplabv3"}
    assert area["~unet"] == 100 and area["~deeplabv3"] == 64  # the networks' squares, counted by hand


def test_ensemble_raters_without_segmentation_stop_at_parse_time():
    from axilla import settings
    from axilla.errors import InputError

    base = {"study": "s", "views": {"US": ["tumor"]}, "models": {"m": {"features": ["radiomics"]}},
            "reproducibility": {"source": "perturbation",
                                                             "perturbation": {"kinds": ["erode", "ensemble"]}}}
    with pytest.raises(InputError, match="ensemble uses the segmentation networks' masks as raters"):
        settings.load(base)
    assert rep.describe_source(settings.load({**base, "segment": {"enabled": True, "views": ["US_tumor"]}})
                               .reproducibility).endswith(
        "erosion by one voxel, each segmentation network's own mask, for the segmented views; "
        "after Zwanenburg et al. 2019), no second rater")
