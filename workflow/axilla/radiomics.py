"""Radiomics with pyradiomics: one job per image, every rater's mask of that image.

Feature columns are named `<modality>_<view>_<imageType>_<class>_<feature>`, e.g.
`MRI_DCE2_original_glcm_Contrast`.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from .io import atomic_path, write_csv
from .preprocess import raters_in

log = logging.getLogger(__name__)


def extract_image(prep_dir: str, params_file: str, modality: str, view: str, out_csv: str) -> list[tuple]:
    """Extract features for every rater's mask of one preprocessed image; write a tidy table."""
    import SimpleITK as sitk
    from radiomics import featureextractor, setVerbosity

    setVerbosity(logging.WARNING)
    # Informational, but logged as a warning once per image: it would flood the console.
    logging.getLogger("radiomics.glcm").setLevel(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(str(params_file))
    image = sitk.ReadImage(str(Path(prep_dir) / "image.nii.gz"))
    rows = []
    for rater in raters_in(prep_dir):
        mask = sitk.ReadImage(str(Path(prep_dir) / f"mask-{rater}.nii.gz"))
        result = extractor.execute(image, mask)
        for key, value in result.items():
            if key.startswith("diagnostics_"):
                continue
            rows.append((rater, f"{modality}_{view}_{key}", f"{float(np.asarray(value)):.10g}"))
    # csv, not pandas: this runs once per image and pandas alone costs 0.5 s of start-up.
    with atomic_path(out_csv) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["rater", "feature", "value"])
        w.writerows(rows)
    log.info("%s %s %s: %d features x %d raters", modality, view, prep_dir, len({r[1] for r in rows}),
             len({r[0] for r in rows}))
    return rows


def aggregate(tables: dict[str, str], primary_rater: str, out_wide: str, out_raters: str) -> None:
    """Per-image tidy tables → a wide per-patient table (primary rater) and one row per patient × rater.

    `tables` maps patient_id → list of per-image CSV paths.
    """
    import pandas as pd

    frames = []
    for pid, paths in sorted(tables.items()):
        for p in paths:
            df = pd.read_csv(p)
            df.insert(0, "patient_id", pid)
            frames.append(df)
    long = pd.concat(frames, ignore_index=True)
    by_rater = long.pivot_table(index=["patient_id", "rater"], columns="feature", values="value",
                                aggfunc="first", sort=True).reset_index()
    by_rater.columns.name = None
    primary = by_rater[by_rater.rater == primary_rater].drop(columns="rater")
    write_csv(primary, out_wide)
    write_csv(by_rater, out_raters)
    log.info("radiomics table: %d patients x %d features (rater %s)", len(primary), primary.shape[1] - 1,
             primary_rater)


def main(argv: list[str] | None = None) -> None:
    """`python -m axilla.radiomics`: the `radiomics` rule's command (a shell command for the
    same per-job start-up reason as `python -m axilla.preprocess`)."""
    import argparse

    from .io import setup_logging

    ap = argparse.ArgumentParser(prog="python -m axilla.radiomics", description=main.__doc__)
    ap.add_argument("--prep", required=True, help="the image's preprocess output folder")
    ap.add_argument("--params", required=True, help="pyradiomics parameter file")
    ap.add_argument("--modality", required=True)
    ap.add_argument("--view", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--log")
    a = ap.parse_args(argv)
    setup_logging(a.log)
    extract_image(a.prep, a.params, a.modality, a.view, a.out)


if __name__ == "__main__":
    main()
