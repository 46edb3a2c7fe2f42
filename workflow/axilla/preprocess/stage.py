"""One image and all raters' masks through every step, into one output folder (`preprocess_image`)."""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from ..errors import InputError, Problem
from ..io import atomic_path, colour_fraction, colour_warning, read_image, spacing_source, write_image
from .masks import align_mask, read_roi, touches_border
from ..settings import Preprocess
from .steps import (as_float32, chest_wall_side, dce_select, flip_x, foreground_mask, interpolator, n4_correct,
                    normalize, resample)

log = logging.getLogger(__name__)


def set_threads(threads: int) -> None:
    """ITK's thread pool (SimpleITK and ANTsPy's own ITK, which reads the variable on import)."""
    import SimpleITK as sitk

    threads = max(1, int(threads))
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def preprocess_image(image_path: str, masks: dict[str, str], modality: str, view: str,
                     settings: Preprocess, out_dir: str, threads: int = 1,
                     pixel_spacing=None, pre_image_path: str | None = None, primary: str | None = None) -> dict:
    """Preprocess one image and all raters' masks of it into `out_dir` (written atomically).

    Writes `image.nii.gz`, `mask-<rater>.nii.gz`, `ring-<rater>.nii.gz` (with `ring_mm`),
    `qc.png` (mask contour over the preprocessed image) and `qc.json` (the QC record).
    `masks` may be empty (an auto view's image without a manual mask): no step needs one (N4 and
    normalisation use the image's foreground), so only the mask files and the outline are absent.
    """
    import SimpleITK as sitk

    from .. import qc

    set_threads(threads)
    image = read_image(image_path, pixel_spacing=pixel_spacing, fallback_spacing=settings.pixel_spacing,
                       frame=settings.frame)
    spacing_from = spacing_source(image)
    raw_spacing = list(image.GetSpacing())
    steps, warnings, applied = [], [], {}
    if colour_fraction(image) > 0:
        warnings.append(colour_warning(colour_fraction(image)))
    image = _select_phase(image, view, settings, pre_image_path, steps, applied)
    raw_range = _range(image)
    roi = _read_masks(masks, image, image_path, settings.label_for(view), settings.align_tolerance_voxels, warnings)
    image, roi = _orient(image, roi, settings.flip, steps, applied)
    image = _correct_resample_normalise(image, view, settings, steps, applied)
    out_masks, rings = _final_masks(roi, image, masks, image_path, modality, settings, warnings)
    if settings.ring_mm:
        steps.append(f"peritumoral ring {settings.ring_mm:g} mm")
    applied["ring"] = ({"applied": True, "mm": settings.ring_mm} if settings.ring_mm
                       else {"applied": False, "reason": "ring_mm: null"})
    record = qc.qc_record(image_path=image_path, modality=modality, view=view, image=image,
                          masks={r: sitk.GetArrayViewFromImage(m) for r, m in out_masks.items()},
                          spacing_source=spacing_from, raw_spacing=raw_spacing, raw_range=raw_range,
                          steps=steps, warnings=warnings)
    record["preprocessing"] = applied
    if not masks:
        log.info("%s %s %s: no manual mask (an auto view's image): no mask or ring files, QC without an ROI outline",
                 modality, view, image_path)
    _write(out_dir, image, out_masks, rings, primary, record)
    for w in warnings:
        log.warning("%s %s %s: %s", modality, view, image_path, w)
    log.info("%s %s %s: %s", modality, view, image_path, describe(steps, applied))
    return record


def describe(steps: list[str], applied: dict) -> str:
    """The log line of each preprocessed image: the steps done, then those not done and why."""
    skipped = [f"{name} ({applied[key]['reason']})" for key, name in _STEP_NAMES.items()
               if not applied[key]["applied"] and key != "dce"]
    return "; ".join(steps) + (" | not applied: " + "; ".join(skipped) if skipped else "")


_STEP_NAMES = {"dce": "DCE phase", "flip": "flip", "n4": "N4", "resampling": "resampling", "clipping": "clipping",
               "normalisation": "normalisation", "ring": "peritumoral ring"}


def _select_phase(image, view: str, settings: Preprocess, pre_image_path: str | None, steps: list,
                  applied: dict):
    """DCE phase / pre-contrast subtraction, then a float32 copy that keeps only the geometry."""
    pre = read_image(pre_image_path) if pre_image_path else None
    image, step = dce_select(image, view, settings.dce, pre, pre_image_path)
    if step:
        steps.append(step)
    applied["dce"] = {"applied": True, "detail": step} if step else {
        "applied": False, "reason": "a single 3D/2D image, no subtraction"}
    return as_float32(image)


def _read_masks(masks: dict[str, str], image, image_path: str, label: int | str | None, tolerance: float,
                warnings: list) -> dict:
    """Every rater's ROI (the configured label or segment) on the image grid; small misalignments
    resampled."""
    roi = {}
    for rater, mpath in sorted(masks.items()):
        m, warn = align_mask(read_roi(mpath, image, label, image_path), image, mpath, image_path, tolerance)
        if warn:
            warnings.append(f"rater {rater}: {warn}")
        roi[rater] = m
    return roi


def _orient(image, roi: dict, flip: str, steps: list, applied: dict):
    """MG (2D): the chest wall to the configured side, every mask mirrored with the image."""
    applied["flip"] = {"applied": False, "setting": flip,
                       "reason": "flip: none" if flip == "none" else "3D image (2D mammograms only)"}
    if flip != "none" and image.GetDimension() == 2:
        want = flip.removeprefix("chest_wall_")
        side = chest_wall_side(image)
        applied["flip"]["reason"] = f"chest wall already {want}"
        if side != want:
            image = flip_x(image)
            roi = {r: flip_x(m) for r, m in roi.items()}
            steps.append(f"flipped left-right (chest wall was {side})")
            applied["flip"] = {"applied": True, "setting": flip, "detail": f"chest wall was {side}"}
    return image, roi


def _correct_resample_normalise(image, view: str, settings: Preprocess, steps: list, applied: dict):
    """N4 (3D views not skipped), resampling, clipping and normalisation of the image alone."""
    n4 = settings.n4
    applied["n4"] = _n4_state(n4, image.GetDimension(), view)
    if applied["n4"]["applied"]:
        fg = foreground_mask(image) if n4.mask == "foreground" else None
        image = n4_correct(image, n4, fg)
        steps.append(f"N4 ({n4.backend}, shrink {n4.shrink}, iterations {list(n4.iterations)}, mask {n4.mask})")
    applied["resampling"] = {"applied": False, "reason": "spacing: null (native grid kept)"}
    if settings.spacing is not None:
        interp = interpolator(settings.interpolation, image.GetDimension())
        name = settings.interpolation or ("bspline" if image.GetDimension() == 3 else "linear")
        image = resample(image, settings.spacing, interp)
        steps.append(f"resampled to {tuple(settings.spacing)} mm ({name})")
        applied["resampling"] = {"applied": True, "spacing": list(settings.spacing), "interpolation": name}
    image = normalize(image, settings.normalize, settings.normalize_region, settings.clip_percentiles)
    applied["clipping"] = ({"applied": True, "percentiles": list(settings.clip_percentiles),
                            "region": settings.normalize_region} if settings.clip_percentiles
                           else {"applied": False, "reason": "clip_percentiles: null"})
    if settings.clip_percentiles:
        steps.append(f"clipped to percentiles {list(settings.clip_percentiles)} ({settings.normalize_region})")
    steps.append(f"normalised ({settings.normalize}, {settings.normalize_region})")
    applied["normalisation"] = ({"applied": True, "method": settings.normalize, "region": settings.normalize_region}
                                if settings.normalize != "none" else
                                {"applied": False, "method": "none", "region": settings.normalize_region,
                                 "reason": "normalize: none"})
    return image


def _n4_state(n4, dimension: int, view: str) -> dict:
    """Whether N4 runs on this image, with its settings, or why not."""
    reason = ("n4.enabled: false" if not n4.enabled else "2D image (N4 is for 3D MRI)" if dimension != 3
              else f"view {view} in n4.skip_views" if view in n4.skip_views else None)
    if reason:
        return {"applied": False, "reason": reason}
    return {"applied": True, "backend": n4.backend, "shrink": n4.shrink, "iterations": list(n4.iterations),
            "mask": n4.mask}


def _final_masks(roi: dict, image, masks: dict[str, str], image_path: str, modality: str,
                 settings: Preprocess, warnings: list) -> tuple[dict, dict]:
    """Every rater's mask on the preprocessed grid (nearest neighbour), checked for size and border
    contact, and its peritumoral ring when `ring_mm` is set. Returns (masks, rings) by rater."""
    import SimpleITK as sitk

    out_masks, rings = {}, {}
    for rater, before in roi.items():
        m = sitk.Resample(before, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        _check_roi_size(m, before, masks[rater], image_path, modality, settings.min_roi_voxels)
        axes = touches_border(sitk.GetArrayViewFromImage(m))
        if axes:
            warnings.append(f"rater {rater}: ROI touches the image border along {', '.join(axes)}")
        out_masks[rater] = m
        if settings.ring_mm:
            rings[rater] = _ring(m, image, settings.ring_mm)
    return out_masks, rings


def _check_roi_size(mask, before, mask_path: str, image_path: str, modality: str, min_voxels: int) -> None:
    """An ROI that vanished or shrank below `min_voxels` on the preprocessed grid is an input error."""
    import SimpleITK as sitk

    n = int(sitk.GetArrayViewFromImage(mask).sum())
    n_raw = int(sitk.GetArrayViewFromImage(before).sum())
    if n == 0:
        raise InputError(Problem(mask_path, f"mask is empty on the preprocessed grid of {image_path} "
                                            f"({n_raw} voxels before resampling)"))
    if n < min_voxels:
        raise InputError(Problem(mask_path, f"ROI has {n} voxels after preprocessing ({n_raw} before), fewer "
                                            f"than preprocess.{modality}.min_roi_voxels = {min_voxels}"))


def _ring(mask, image, ring_mm: float):
    """The peritumoral ring of a preprocessed mask, as a uint8 image on the image grid."""
    import SimpleITK as sitk

    from ..roi import peritumoral_ring

    ring = sitk.GetImageFromArray(peritumoral_ring(sitk.GetArrayViewFromImage(mask), image.GetSpacing()[::-1],
                                                   ring_mm).astype(np.uint8))
    ring.CopyInformation(image)
    return ring


def _write(out_dir: str, image, masks: dict, rings: dict, primary: str | None, record: dict) -> None:
    """The output folder, atomically: image, masks, rings, QC overlay of the primary rater, QC record."""
    import SimpleITK as sitk

    from .. import qc

    with atomic_path(out_dir, directory=True) as tmp:
        write_image(image, tmp / "image.nii.gz")
        for rater, m in masks.items():
            write_image(m, tmp / f"mask-{rater}.nii.gz")
        for rater, m in rings.items():
            write_image(m, tmp / f"ring-{rater}.nii.gz")
        pixels = sitk.GetArrayViewFromImage(image)
        if masks:
            shown = sitk.GetArrayViewFromImage(masks[primary if primary in masks else sorted(masks)[0]])
        else:  # an auto view's image without a manual mask: the image alone
            shown = np.zeros(pixels.shape, np.uint8)
        qc.overlay_png(pixels, shown, tmp / "qc.png", spacing=image.GetSpacing()[::-1])
        (tmp / "qc.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def _range(image) -> list[float]:
    import SimpleITK as sitk

    a = sitk.GetArrayViewFromImage(image)
    return [float(a.min()), float(a.max())]


def raters_in(prep_dir, roi: str = "mask") -> list[str]:
    """Raters whose masks (`roi="mask"`) or peritumoral rings (`roi="ring"`) a preprocessed image
    folder holds."""
    from pathlib import Path

    return sorted(p.name[len(f"{roi}-"):-len(".nii.gz")] for p in Path(prep_dir).glob(f"{roi}-*.nii.gz"))
