"""Per-image preprocessing: mask checks, DCE phases, MG orientation, N4, resampling, normalisation.

Order per image: read (any format, no header metadata kept) -> DCE phase / subtraction -> masks
checked against the image grid (ROI label, small misalignment resampled, large refused) ->
MG chest wall to one side -> N4 (3D) -> resampling -> percentile clipping -> normalisation ->
optional peritumoral rings -> QC overlay PNG + QC record. Masks follow every geometric step with
nearest-neighbour interpolation, so each rater's ROI stays aligned with the preprocessed image.

Settings: :class:`axilla.settings.Preprocess` (``preprocess.<MOD>``). Modules: `masks` (the image/mask geometry rule, ROI label),
`steps` (the image steps), `stage` (one image end to end), `cli` (`python -m axilla.preprocess`).
"""

from .cli import index_rows, main, rule_extra_args
from .masks import (Alignment, Grid, align_mask, geometry_mismatch, judge_alignment, read_mask, read_roi,
                    roi_problem, select_label, touches_border)
from .stage import preprocess_image, raters_in, set_threads
from .steps import (INTERPOLATORS, as_float32, chest_wall_side, dce_select, flip_x, foreground_mask, interpolator,
                    n4_correct, normalize, resample)

__all__ = ["INTERPOLATORS", "Alignment", "Grid", "align_mask",
           "as_float32", "chest_wall_side", "dce_select", "flip_x", "foreground_mask", "geometry_mismatch",
           "interpolator", "judge_alignment", "main", "n4_correct", "normalize", "preprocess_image", "raters_in",
           "index_rows", "read_mask", "read_roi", "resample", "roi_problem", "rule_extra_args", "select_label", "set_threads",
           "touches_border"]
