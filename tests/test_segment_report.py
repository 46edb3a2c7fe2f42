"""The report's segmentation section: the metrics with their CIs, the manual masks' agreement and
the overlays, from tables written here; absent when the stage is off."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
from PIL import Image

from axilla.report.html import Doc
from axilla.report.sections.segmentation import segmentation


def _tables(tmp_path):
    metrics = ["dice", "iou", "precision", "recall", "hd95"]
    rows = [{"model": m, "modality": "US", "view": "tumor", "cohort": "internal", "n": 9, "n_empty": 0,
             **{k: 0.9 for k in metrics}, **{f"{k}_ci_{e}": v for k in metrics for e, v in (("low", 0.8), ("high", 0.95))}}
            for m in ("unet", "fused")]
    pd.DataFrame(rows).to_csv(tmp_path / "metrics.csv", index=False)
    pd.DataFrame([{"modality": "US", "view": "tumor", "pair": "A-B", "kind": "inter", "n": 12, "dice": 0.889,
                   "dice_ci_low": 0.88, "dice_ci_high": 0.898}]).to_csv(tmp_path / "raters.csv", index=False)
    png = tmp_path / "US_tumor" / "overlays" / "internal_best_P1_dice0.95.png"
    png.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png)
    return {"segmentation": [str(tmp_path / "metrics.csv")], "segmentation_raters": [str(tmp_path / "raters.csv")],
            "segmentation_overlays": [str(png)]}


def test_the_section_shows_metrics_with_cis_rater_agreement_and_overlays(tmp_path):
    d = Doc()
    segmentation(d, SimpleNamespace(opt=_tables(tmp_path)))
    text = "\n".join(d.parts)
    assert "0.900 (0.800–0.950)" in text and "fused" in text and "US tumor" in text
    assert "0.889 (0.880–0.898)" in text and "inter" in text
    assert "internal_best_P1_dice0.95" in text and "data:image/png;base64" in text


def test_the_section_says_it_is_absent_without_the_stage():
    d = Doc()
    segmentation(d, SimpleNamespace(opt={}))
    assert "not produced" in d.parts[0]
