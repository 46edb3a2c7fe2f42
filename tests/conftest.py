import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"  # vendored reference data (tests/data/README.md)


@pytest.fixture
def tiny_cohort(tmp_path):
    """A 6-patient cohort of small 2D US tumour images with masks, manifest and clinical table."""
    import pandas as pd
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    rows, clin = [], []
    for i in range(6):
        pid = f"T{i}"
        img = sitk.GetImageFromArray(rng.normal(100, 10, (40, 40)).astype(np.float32))
        img.SetSpacing((0.2, 0.2))
        m = np.zeros((40, 40), np.uint8)
        m[10:25, 12:30] = 1
        mask = sitk.GetImageFromArray(m)
        mask.CopyInformation(img)
        (tmp_path / "img").mkdir(exist_ok=True)
        sitk.WriteImage(img, str(tmp_path / "img" / f"{pid}.nii.gz"))
        sitk.WriteImage(mask, str(tmp_path / "img" / f"{pid}_A.nii.gz"))
        rows.append(dict(patient_id=pid, modality="US", view="tumor", image=f"img/{pid}.nii.gz",
                         mask=f"img/{pid}_A.nii.gz", rater="A"))
        clin.append(dict(patient_id=pid, ln_status=i % 2, age=50 + i, margin="spiculated" if i % 2 else "round"))
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    pd.DataFrame(clin).to_csv(tmp_path / "clinical.csv", index=False)
    return tmp_path


def pytest_collection_modifyitems(config, items):
    """Whole-study runs first: with two xdist workers (make test) they overlap with the unit
    tests instead of starting last and running alone (the order is otherwise unchanged)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
