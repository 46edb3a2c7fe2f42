"""One ROI rule from validation to pyradiomics: a 0/255 PNG mask (what annotation tools export)
gives the same preprocessed mask and the same radiomics features as the 0/1 one; a multi-label
mask gives its configured label's features."""

import numpy as np
import pytest
from PIL import Image

from axilla import radiomics
from axilla.preprocess import preprocess_image
from axilla.settings import section

from conftest import ROOT


def _case(tmp_path):
    rng = np.random.default_rng(2)
    img = rng.normal(120, 25, (64, 64)).clip(0, 255).astype(np.uint8)
    roi = np.zeros((64, 64), np.uint8)
    roi[20:40, 18:44] = 1
    roi[25:30, 25:30] = 0  # a hole, so the shape is not trivial
    Image.fromarray(img).save(tmp_path / "us.png")
    return roi


def _features(tmp_path, mask: np.ndarray, name: str, **settings) -> bytes:
    Image.fromarray(mask).save(tmp_path / f"{name}.png")
    prep = tmp_path / f"prep_{name}"
    preprocess_image(str(tmp_path / "us.png"), {"A": str(tmp_path / f"{name}.png")}, "US", "tumor",
                     section("preprocess.US", spacing=[0.25, 0.25], **settings), str(prep), pixel_spacing=(0.2, 0.2))
    out = tmp_path / f"{name}.csv"
    radiomics.extract_image(str(prep), str(ROOT / "resources" / "radiomics" / "US.yaml"), "US", "tumor", str(out),
                            min_roi_voxels=20)
    return (prep / "mask-A.nii.gz").read_bytes(), out.read_bytes()


def test_0_255_and_0_1_masks_give_identical_features(tmp_path):
    roi = _case(tmp_path)
    mask01, feats01 = _features(tmp_path, roi, "binary01")
    mask255, feats255 = _features(tmp_path, roi * 255, "binary255")
    assert mask01 == mask255 and feats01 == feats255
    assert feats01.count(b"\n") > 800  # the whole US feature set, not an empty table


def test_multilabel_mask_with_configured_label_equals_that_label_alone(tmp_path):
    roi = _case(tmp_path)
    multi = roi * 2
    multi[45:55, 45:55] = 7  # another structure (e.g. a node) in the same export
    _, alone = _features(tmp_path, roi, "alone")
    _, chosen = _features(tmp_path, multi, "multi", roi_label=2)
    assert alone == chosen


def test_radiomics_uses_label_1_and_the_configured_size_limit(tmp_path):
    roi = _case(tmp_path)
    Image.fromarray(roi * 255).save(tmp_path / "m.png")
    prep = tmp_path / "prep"
    preprocess_image(str(tmp_path / "us.png"), {"A": str(tmp_path / "m.png")}, "US", "tumor",
                     section("preprocess.US", spacing=[0.25, 0.25]), str(prep), pixel_spacing=(0.2, 0.2))
    params = tmp_path / "p.yaml"
    params.write_text((ROOT / "resources" / "radiomics" / "US.yaml").read_text().replace(
        "setting:\n", "setting:\n  label: 3\n"))  # ignored: preprocessed ROIs are 0/1
    radiomics.extract_image(str(prep), str(params), "US", "tumor", str(tmp_path / "a.csv"), min_roi_voxels=20)
    with pytest.raises(ValueError, match=r"ROI is too small \(minimum size: 10000, ROI size: 320"):
        radiomics.extract_image(str(prep), str(params), "US", "tumor", str(tmp_path / "b.csv"),
                                min_roi_voxels=10_000)
