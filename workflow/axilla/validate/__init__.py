"""Input validation: the manifest and clinical table are checked before any image is processed.

Every problem found is collected (not only the first) and reported as one `InputError`
naming the file, the row and the column. Modules: `manifest`, `files` (the images and masks it
lists), `clinical` (the clinical table and the class counts of the planned split), `policy`
(exclusions: per problem class, stop the run or exclude the patient), `stage` (the `validate`
rule's `run`).
"""

from .clinical import check_class_counts, load_clinical, min_per_class, missing_summary
from .files import FileCheck, check_files, params_problems, predicted_roi_voxels
from .manifest import MANIFEST_COLUMNS, MODALITY_VIEWS, OPTIONAL_COLUMNS, SAFE_ID, load_manifest
from .stage import run

__all__ = ["MANIFEST_COLUMNS", "MODALITY_VIEWS", "OPTIONAL_COLUMNS", "SAFE_ID", "FileCheck", "check_class_counts",
           "check_files", "load_clinical", "load_manifest", "min_per_class", "missing_summary", "params_problems",
           "predicted_roi_voxels", "run"]
