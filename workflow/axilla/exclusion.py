"""Per-image jobs of patients that `validate` excluded: a small marker instead of a result.

The rule graph is fixed when the Snakefile is parsed, from the manifest's structure, before
`validate` has read a file; a checkpoint would leave `--rulegraph` and dry runs (the documents
users hand to reviewers) incomplete until validation has run. So an excluded patient's per-image
jobs still run, and cost nothing: `preprocess` finds the image absent from the validated manifest
and writes a marker folder without reading the image (which may be the unreadable file),
`radiomics` passes the marker on, and the aggregators (QC table, radiomics table, deep features)
leave marked outputs out. Kept patients' outputs are those of a study without the excluded ones.
Standard library only: this runs once per image.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from .io import atomic_path

MARKER = "excluded.json"  # the file of a preprocess folder of an excluded image
CSV_HEADER = ["excluded", "reason"]  # the header of the radiomics table of an excluded image


def in_validated(manifest_csv: str | os.PathLike, patient: str, modality: str, view: str) -> bool:
    """Whether the validated manifest lists this image (it lists exactly the study's images)."""
    with open(manifest_csv, newline="") as fh:
        return any((r["patient_id"], r["modality"], r["view"]) == (patient, modality, view)
                   for r in csv.DictReader(fh))


def write_marker_dir(out_dir: str | os.PathLike, patient: str, modality: str, view: str,
                     manifest_csv: str | os.PathLike) -> str:
    """The preprocess output of an excluded image: a folder holding only the marker; its reason."""
    reason = (f"patient {patient} was excluded by validate (not in the validated manifest {manifest_csv}; "
              "the reason is in validate/excluded.csv): nothing computed")
    with atomic_path(out_dir, directory=True) as tmp:
        (tmp / MARKER).write_text(json.dumps({"patient_id": patient, "modality": modality, "view": view,
                                              "reason": reason}, indent=2, sort_keys=True) + "\n")
    return reason


def marker(prep_dir: str | os.PathLike) -> dict | None:
    """The marker record of an excluded image's preprocess folder, None for a computed one."""
    p = Path(prep_dir) / MARKER
    return json.loads(p.read_text()) if p.exists() else None


def write_marker_csv(out_csv: str | os.PathLike, reason: str) -> None:
    """The radiomics table of an excluded image: the header `excluded,reason` and one row."""
    with atomic_path(out_csv) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(CSV_HEADER)
        w.writerow([1, reason])


def is_marker_csv(path: str | os.PathLike) -> bool:
    with open(path, newline="") as fh:
        return next(csv.reader(fh), []) == CSV_HEADER


def computed(prep_dirs) -> list[str]:
    """The preprocess folders that hold results (excluded patients' markers left out), in order."""
    return [d for d in prep_dirs if marker(d) is None]
