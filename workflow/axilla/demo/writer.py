"""Writing the cohort: images, masks, tables, README.md and, last, the manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..io import atomic_path
from .base import check_args
from .cohort import Patient, clinical_frame, cohort, truth_table
from .geometry import Grid
from .plan import BASE_DCE_PHASES, absent, check_dce_phases, plan
from .readme import readme
from .renderers import rater_masks, render


def generate(outdir, n_patients: int, seed: int, rater_fraction: float, workers: int = 1,
             dce_phases: int = BASE_DCE_PHASES, missing: dict | None = None) -> None:
    """Write the demo cohort to ``outdir``: images, masks, clinical.csv, truth.csv, README.md and,
    last, manifest.csv (so its presence means the cohort is complete). ``workers`` processes render
    patients in parallel; each patient has its own random streams, so the files do not depend on it.
    ``dce_phases`` (2 to 4): MRI DCE1 .. DCE<k>; the extra phases leave every other file as with 2.
    ``missing`` (modality -> fraction, :func:`axilla.demo.plan.absent`): those patients' images of
    that modality are not written (nor listed); every other file stays as without it."""
    check_args(n_patients, seed, rater_fraction)
    check_dce_phases(dce_phases)
    n, seed, rater_fraction, dce_phases = int(n_patients), int(seed), float(rater_fraction), int(dce_phases)
    out = Path(outdir)
    manifest = plan(n, seed, rater_fraction, dce_phases, missing)
    patients = cohort(n, seed, rater_fraction)
    _write_patients(patients, out, seed, workers, dce_phases, absent(n, seed, missing))
    _write_text(_csv(clinical_frame(patients)), out / "clinical.csv")
    _write_text(_csv(truth_table(n, seed, rater_fraction)), out / "truth.csv")
    _write_text(readme(n, seed, rater_fraction, dce_phases, missing), out / "README.md")
    _write_text(_csv(manifest), out / "manifest.csv")


def _write_patients(patients: list[Patient], out: Path, seed: int, workers: int, dce_phases: int,
                    gone: dict[str, set[str]]) -> None:
    n = len(patients)
    skip = [{m for m, ids in gone.items() if p.pid in ids} for p in patients]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(int(workers), n)) as pool:
            list(pool.map(_write_patient, patients, [out] * n, [seed] * n, [dce_phases] * n, skip, chunksize=4))
    else:
        for p, s in zip(patients, skip):
            _write_patient(p, out, seed, dce_phases, s)


def _write_patient(p: Patient, out: Path, seed: int, dce_phases: int = BASE_DCE_PHASES,
                   skip: set[str] = frozenset()) -> None:
    """One patient's images and every rater's masks (image ``v``'s raters from stream ``v``: the
    extra DCE phases come last, so the other images keep their streams); modalities in ``skip``
    are rendered (streams unchanged) but not written."""
    (out / "images" / p.pid).mkdir(parents=True, exist_ok=True)
    (out / "masks" / p.pid).mkdir(parents=True, exist_ok=True)
    for v, (modality, view, img, grid, roi) in enumerate(render(p, seed, dce_phases)):
        if modality in skip:
            continue
        stem = f"{modality}_{view}"
        _write_image(img, grid, out / "images" / p.pid / f"{stem}.nii.gz")
        for rater, m in rater_masks(p, v, roi, seed).items():
            _check_mask(m, f"{p.pid} {stem} rater {rater}")
            _write_image(m.astype(np.uint8), grid, out / "masks" / p.pid / f"{stem}_{rater}.nii.gz")


def _check_mask(mask: np.ndarray, where: str) -> None:
    # A violated invariant here is a generator bug, not a user error.
    if not mask.any():
        raise RuntimeError(f"demo generator produced an empty mask: {where}")
    border = np.zeros_like(mask)
    border[tuple(slice(1, -1) for _ in mask.shape)] = True
    if (mask & ~border).any():
        raise RuntimeError(f"demo generator produced a mask touching the image border: {where}")


def _to_sitk(arr: np.ndarray, grid: Grid) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(float(s) for s in grid.spacing))
    img.SetOrigin(grid.origin)
    img.SetDirection(tuple(np.eye(arr.ndim).ravel().tolist()))
    return img


def _write_image(arr: np.ndarray, grid: Grid, path: Path) -> None:
    # SimpleITK picks the format by the name's ending, so the temporary keeps ".nii.gz".
    with atomic_path(path, suffix=".nii.gz") as tmp:
        sitk.WriteImage(_to_sitk(arr, grid), str(tmp), True)


def _csv(df) -> str:
    return df.to_csv(index=False, lineterminator="\n")


def _write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
