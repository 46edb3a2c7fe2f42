"""Parse-time checks of the segmentation settings and of the views whose ROIs it provides
(``segment``, ``roi.source``): found when the workflow is parsed, with every other cross-key
problem (axilla.settings.load)."""

from __future__ import annotations

from ..errors import Problem


def problems(study) -> list[Problem]:
    """Problems of `study` (axilla.settings.Study) in `segment` and `roi`."""
    return _segment_problems(study) + _roi_problems(study) + _ensemble_problems(study)


def _view_keys(study) -> set[str]:
    return {f"{m}_{v}" for m, vs in study.views.items() for v in vs}


def _segment_problems(study) -> list[Problem]:
    """Segmented views must be views of the study; an enabled stage needs at least one. A
    disabled stage is not checked: `segment.enabled: false` alone switches it off."""
    seg, have = study.segment, _view_keys(study)
    if not seg.enabled:
        return []
    out = [Problem("config", f"key 'segment.views': '{k}' is not a view of this study ({', '.join(sorted(have))}); "
                             "add it under 'views' or remove it here") for k in seg.views if k not in have]
    if seg.enabled and not seg.views:
        out.append(Problem("config", "key 'segment.views': segment.enabled is true but no view is listed; "
                                     "name the views to segment, e.g. [US_tumor, MG_CC]"))
    return out


def _roi_problems(study) -> list[Problem]:
    """An automatic ROI needs the segment stage to produce it, for that very view; a frozen study
    applied to a new cohort has no segmentation networks in its bundle."""
    seg, have = study.segment, _view_keys(study)
    out = [Problem("config", f"key 'roi.source.{k}': '{k}' is not a view of this study ({', '.join(sorted(have))}); "
                             "add it under 'views' or remove it here") for k in study.roi.source if k not in have]
    for k in study.roi.auto_views:
        if not seg.enabled:
            out.append(Problem("config", f"key 'roi.source.{k}': auto needs the automatic segmentation: set "
                                         f"segment.enabled: true and list {k} in segment.views (or set {k}: manual)"))
        elif k not in seg.views:
            out.append(Problem("config", f"key 'roi.source.{k}': auto needs {k} in segment.views (segmented: "
                                         f"{', '.join(seg.views)}): add it there or set {k}: manual"))
    if study.apply and study.roi.auto_views:
        out.append(Problem("config", f"key 'apply': the bundled study takes automatic ROIs for "
                                     f"{', '.join(study.roi.auto_views)}, but a bundle holds no segmentation networks; "
                                     "apply needs a study whose views all have roi.source: manual"))
    return out


def _ensemble_problems(study) -> list[Problem]:
    """The segmentation networks as pseudo-raters need the networks."""
    rep = study.reproducibility
    if rep.source != "perturbation" or "ensemble" not in rep.perturbation["kinds"] or study.segment.enabled:
        return []
    return [Problem("config", "key 'reproducibility.perturbation.kinds': ensemble uses the segmentation networks' "
                              "masks as raters: set segment.enabled: true with the views in segment.views, "
                              "or remove ensemble")]
