"""A small study on data laid out as a real cohort's (issue 19), run once per test session and
shared by the exclusion and missing-modality tests: 25 demo patients written as manifest + files,
a fifth without MRI (``validate.missing_view: allow``), one patient's US mask shrunk below the ROI
size limit and another's truncated (``small_roi`` / ``unreadable``: drop)."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

from smallstudy import copy_workflow

STUDY = "real"
N_PATIENTS, LACKING_MRI = 25, 0.2
SMALL_ROI, UNREADABLE = "P003", "P006"
CONFIG = """\
study: real
seed: 3
manifest: data/manifest.csv
clinical: data/clinical.csv
validate: {missing_view: allow, confine_paths: true, unreadable: drop, small_roi: drop}
views: {MRI: [T2], US: [tumor]}
clinical_variables: {age: numeric, ki67: numeric, shape: categorical, imaging_node: categorical}
preprocess:
  MRI: {spacing: [1.0, 1.0, 1.0], normalize: zscore}
  US: {spacing: [0.25, 0.25], normalize: zscore}
deep:
  backbone: {MRI: resnet18, US: resnet18}
  size_2d: [32, 32]
  size_3d: [16, 16, 16]
  weights: {source: finetune, epochs: 1, batch_size: 8, patience: 1}
reproducibility: {pairs: [[A, B]]}
split: {method: random, test_fraction: 0.3, external: null}
select: {lasso: {folds: 2, n_lambda: 20}}
models:
  clinical: {features: [clinical]}
  mri: {features: ["radiomics:MRI"]}
  us: {features: ["radiomics:US", "deep:US"]}
  postfusion: {fuse: [clinical, mri, us]}
# optimism and permutations are the small study's (tests/smallstudy.py): here drops and absent views
evaluate: {optimism_bootstraps: 0}
"""


def _damage(data: Path) -> None:
    """P003's US mask: a 4 x 4 square of 0.2 mm pixels (about 9 voxels at 0.25 mm, below
    min_roi_voxels 20); P006's: truncated."""
    import SimpleITK as sitk

    mask = data / "masks" / SMALL_ROI / "US_tumor_A.nii.gz"
    ref = sitk.ReadImage(str(mask))
    small = np.zeros(sitk.GetArrayViewFromImage(ref).shape, np.uint8)
    small[100:104, 100:104] = 1
    out = sitk.GetImageFromArray(small)
    out.CopyInformation(ref)
    sitk.WriteImage(out, str(mask))
    damaged = data / "masks" / UNREADABLE / "US_tumor_A.nii.gz"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])


@cache
def run() -> Path:
    """The workflow copy after the whole study ran (asserted), made on first use."""
    from axilla.demo.writer import generate

    d = Path(tempfile.mkdtemp(prefix="axilla-real-"))  # lives until the interpreter exits
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    copy_workflow(d)
    (d / "config" / "config.yaml").write_text(CONFIG)
    generate(d / "data", N_PATIENTS, 3, 0.3, missing={"MRI": LACKING_MRI})
    _damage(d / "data")
    r = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=d, capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    return d


def results(d: Path) -> Path:
    return Path(d) / "results" / STUDY
