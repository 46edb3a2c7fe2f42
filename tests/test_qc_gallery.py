"""QC overlay PNG (contour on the largest slice), QC table rows, and the embedded HTML gallery."""

import base64
import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from PIL import Image

from axilla import qc
from axilla.preprocess import preprocess_image
from axilla.settings import section


def test_overlay_outlines_roi_on_largest_slice():
    img = np.zeros((3, 20, 20), np.float32)
    img[1] = np.linspace(0, 1, 20)[None, :]
    mask = np.zeros((3, 20, 20), np.uint8)
    mask[0, 9:11, 9:11] = 1
    mask[1, 5:15, 4:14] = 1  # largest: slice 1, a 10 x 10 square
    rgb = qc.overlay_rgb(img, mask, spacing=(1.0, 1.0, 1.0), max_side=20)
    assert rgb.shape == (20, 20, 3)
    red = np.all(rgb == qc.CONTOUR_RGB, axis=-1)
    box = np.zeros((20, 20), bool)
    box[5:15, 4:14] = True
    inner = np.zeros_like(box)
    inner[6:14, 5:13] = True
    assert np.array_equal(red, box & ~inner)  # exactly the one-pixel outline of the square
    grey = rgb[~red][:, 0]
    assert np.array_equal(rgb[~red][:, 0], rgb[~red][:, 1]) and grey.max() == 255  # the ramp of slice 1


def test_overlay_respects_anisotropic_pixels():
    rgb = qc.overlay_rgb(np.random.rand(10, 40), np.pad(np.ones((4, 4)), ((3, 3), (18, 18))), spacing=(2.0, 0.5),
                         max_side=100)
    assert rgb.shape[:2] == (100, 100)  # 10 rows x 2 mm = 40 columns x 0.5 mm = 20 mm: a square


def _case(tmp_path, pid, shift):
    rng = np.random.default_rng(len(pid))
    a = rng.normal(100, 5, (30, 40)).astype(np.float32)
    m = np.zeros((30, 40), np.uint8)
    m[10:20, 10 + shift:25 + shift] = 1
    im = sitk.GetImageFromArray(a)
    im.SetSpacing((0.2, 0.2))
    mk = sitk.GetImageFromArray(m)
    mk.CopyInformation(im)
    sitk.WriteImage(im, str(tmp_path / f"{pid}.nrrd"))
    sitk.WriteImage(mk, str(tmp_path / f"{pid}_m.nrrd"))
    out = tmp_path / "res" / "preprocess" / pid / "US_tumor"
    preprocess_image(str(tmp_path / f"{pid}.nrrd"), {"A": str(tmp_path / f"{pid}_m.nrrd"),
                                                     "B": str(tmp_path / f"{pid}_m.nrrd")},
                     "US", "tumor", section("preprocess.US", spacing=[0.4, 0.4]), str(out))
    return out


def test_qc_table_and_gallery(tmp_path):
    dirs = [_case(tmp_path, "P2", 0), _case(tmp_path, "P1", 15)]  # P1's ROI reaches the right edge
    base = tmp_path / "res"
    table = qc.collect(dirs, base)
    assert list(table.patient_id) == ["P1", "P2"]
    row = table.iloc[1]
    assert row["size"] == "20x15" and row["spacing"] == "0.4x0.4" and row["roi_unit"] == "mm2"
    m = sitk.GetArrayFromImage(sitk.ReadImage(str(dirs[0] / "mask-A.nii.gz")))  # P2
    assert row["roi_voxels_A"] == m.sum() == row["roi_voxels_B"] > 0
    assert row["roi_mm_A"] == pytest.approx(row["roi_voxels_A"] * 0.16)
    assert row["png"] == "preprocess/P2/US_tumor/qc.png" and row["n_warnings"] == 0
    assert table.iloc[0]["n_warnings"] == 2 and "touches the image border along x" in table.iloc[0]["warnings"]
    rec = json.loads((dirs[0] / "qc.json").read_text())
    assert table.iloc[1]["intensity_max"] == rec["intensity"]["max"]

    html = qc.gallery_html(table, base)
    for d in dirs:
        assert base64.b64encode((d / "qc.png").read_bytes()).decode() in html
    assert html.count("<img") == 2 and "2 images, 1 with warnings" in html
    assert html.index("P1:") < html.index("P2:")  # warnings first
    # also from the CSV path, as the report reads it
    table.to_csv(tmp_path / "qc.csv", index=False)
    assert qc.gallery_html(tmp_path / "qc.csv", base) == html
    one = qc.gallery_html(table, base, max_per_view=1)
    assert one.count("<img") == 1 and "(2 images, 1 more in the QC table)" in one and "P1:" in one
    png = Image.open(dirs[1] / "qc.png")
    assert png.mode == "RGB" and max(png.size) == 256
