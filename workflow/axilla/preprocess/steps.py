"""The per-image steps on SimpleITK images: DCE phase / subtraction, MG orientation, N4 bias-field
correction, resampling, percentile clipping and normalisation."""

from __future__ import annotations

import re

import numpy as np

from ..errors import InputError, Problem
from .masks import geometry_mismatch
from ..settings import DCE, N4

INTERPOLATORS = ("bspline", "linear", "nearest", "lanczos")


def foreground_mask(image):
    """Body/breast foreground by Otsu: N4 and normalisation should ignore the air."""
    import SimpleITK as sitk

    return sitk.OtsuThreshold(image, 0, 1, 128)


def as_float32(image):
    """Float32 copy with geometry only (no header metadata)."""
    import SimpleITK as sitk

    out = sitk.GetImageFromArray(sitk.GetArrayFromImage(image).astype(np.float32))
    out.CopyInformation(image)
    return out


def dce_select(image, view: str, dce: DCE, pre_image=None, pre_path: str | None = None):
    """Pick the phase of a 4D DCE series and/or subtract the pre-contrast phase. Returns (image, step)."""
    import SimpleITK as sitk

    step = None
    if image.GetDimension() == 4:
        n = image.GetSize()[3]
        m = re.match(r"^DCE(\d+)$", view)
        phase = dce.phase if dce.phase is not None else (int(m.group(1)) if m else None)
        if phase is None or not 0 <= phase < n:
            raise InputError(Problem(view, f"4D image has phases 0..{n - 1}; phase {phase} does not exist "
                                           "(set preprocess.MRI.dce.phase)"))
        size = list(image.GetSize()[:3]) + [0]
        pick = lambda k: sitk.Extract(image, size, [0, 0, 0, k])  # noqa: E731
        out = as_float32(pick(phase))
        step = f"DCE phase {phase} of {n}"
        if dce.subtract:
            out = out - as_float32(pick(dce.pre_phase))
            step += f" minus pre-contrast phase {dce.pre_phase}"
        return out, step
    if dce.subtract and pre_image is not None:
        if geometry_mismatch(image, pre_image) > 1e-3 or image.GetSize() != pre_image.GetSize():
            raise InputError(Problem(pre_path or "pre-contrast", "pre-contrast image is not on the grid of the "
                                                                  "post-contrast image; cannot subtract"))
        image, pre = as_float32(image), as_float32(pre_image)
        pre.CopyInformation(image)
        return image - pre, f"subtracted pre-contrast ({dce.pre_view})"
    return image, step


def chest_wall_side(image) -> str:
    """'left' or 'right': the image edge band (10 % of the width) with the higher mean intensity.

    The chest wall / pectoral muscle side is dense tissue along the whole edge; the other side
    holds the skin line and air around the nipple (mean intensity, not an Otsu fraction, so that a
    breast filling the whole image still gives the dense pectoral side).
    """
    import SimpleITK as sitk

    a = sitk.GetArrayViewFromImage(image)
    band = max(1, a.shape[-1] // 10)
    return "left" if a[..., :band].mean() >= a[..., -band:].mean() else "right"


def flip_x(image):
    """Mirror the pixel columns in place on the same grid (orientation normalisation, not a move)."""
    import SimpleITK as sitk

    out = sitk.GetImageFromArray(np.ascontiguousarray(sitk.GetArrayViewFromImage(image)[..., ::-1]))
    out.CopyInformation(image)
    return out


def n4_correct(image, settings: N4, mask=None):
    """Multiplicative bias-field correction; the field is fitted on a shrunk copy (inside `mask`
    when given), applied at full size."""
    import SimpleITK as sitk

    image = sitk.Cast(image, sitk.sitkFloat32)
    d = image.GetDimension()
    mesh = None
    if settings.spline_distance is not None:  # as ANTs: elements = ceil(extent / distance)
        extent = np.asarray(image.GetSize()) * np.asarray(image.GetSpacing())
        mesh = [max(1, int(np.ceil(e / settings.spline_distance))) for e in extent]
    if settings.backend == "ants":
        import ants

        def to_ants(img):
            return ants.from_numpy(sitk.GetArrayFromImage(img).T.astype(np.float32).copy(), origin=img.GetOrigin(),
                                   spacing=img.GetSpacing(), direction=np.asarray(img.GetDirection()).reshape(d, -1))

        out = ants.n4_bias_field_correction(to_ants(image), mask=None if mask is None else to_ants(mask),
                                            shrink_factor=settings.shrink, spline_param=mesh,
                                            convergence={"iters": list(settings.iterations),
                                                         "tol": 1e-7 if settings.tolerance is None else settings.tolerance})
        res = sitk.GetImageFromArray(out.numpy().T.astype(np.float32))
        res.CopyInformation(image)
        return res
    shrunk = sitk.Shrink(image, [settings.shrink] * d)
    f = sitk.N4BiasFieldCorrectionImageFilter()
    f.SetMaximumNumberOfIterations([int(i) for i in settings.iterations])
    if settings.tolerance is not None:
        f.SetConvergenceThreshold(settings.tolerance)
    if mesh is not None:
        f.SetNumberOfControlPoints([m + f.GetSplineOrder() for m in mesh])
    if mask is None:
        f.Execute(shrunk)
    else:
        f.Execute(shrunk, sitk.Shrink(sitk.Cast(mask, sitk.sitkUInt8), [settings.shrink] * d))
    log_field = f.GetLogBiasFieldAsImage(image)
    return sitk.Cast(image / sitk.Exp(log_field), sitk.sitkFloat32)


def interpolator(name: str | None, dimension: int):
    import SimpleITK as sitk

    name = name or ("bspline" if dimension == 3 else "linear")
    table = {"bspline": sitk.sitkBSpline, "linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor,
             "lanczos": sitk.sitkLanczosWindowedSinc}
    if name not in table:
        raise ValueError(f"unknown interpolation '{name}' (choose from {', '.join(INTERPOLATORS)})")
    return table[name]


def resample(image, spacing, interpolator, default=0.0):
    """Resample onto a grid with the given spacing that covers the same physical extent.

    Origin (first voxel centre) and direction are kept; size = round(old extent / new spacing).
    """
    import SimpleITK as sitk

    old_sp = np.asarray(image.GetSpacing())
    new_sp = np.asarray(spacing, dtype=float)
    if new_sp.size != old_sp.size:
        raise ValueError(f"spacing {tuple(spacing)} has {new_sp.size} values; the image is {old_sp.size}D")
    size = np.maximum(1, np.round(np.asarray(image.GetSize()) * old_sp / new_sp)).astype(int)
    return sitk.Resample(image, [int(s) for s in size], sitk.Transform(), interpolator, image.GetOrigin(),
                         tuple(float(s) for s in new_sp), image.GetDirection(), default, image.GetPixelID())


def normalize(image, method: str, region: str = "foreground", clip: tuple[float, float] | None = None):
    """Percentile clipping then z-score / min-max, statistics over the Otsu body mask or the whole image."""
    import SimpleITK as sitk

    if method == "none" and clip is None:
        return image
    arr = sitk.GetArrayFromImage(image).astype(np.float32)
    if region == "foreground":
        fg = sitk.GetArrayFromImage(foreground_mask(image)).astype(bool)
        ref = arr[fg] if fg.sum() > 10 else arr.ravel()
    elif region == "image":
        ref = arr.ravel()
    else:
        raise ValueError(f"unknown normalisation region '{region}' (foreground or image)")
    if clip is not None:
        lo, hi = np.percentile(ref, clip)
        arr = np.clip(arr, lo, hi)
        ref = np.clip(ref, lo, hi)
    if method == "zscore":
        sd = ref.std()
        arr = (arr - ref.mean()) / (sd if sd > 0 else 1.0)
    elif method == "minmax":
        lo, hi = ref.min(), ref.max()
        arr = (arr - lo) / (hi - lo if hi > lo else 1.0)
    elif method != "none":
        raise ValueError(f"unknown normalisation '{method}'")
    res = sitk.GetImageFromArray(arr.astype(np.float32))
    res.CopyInformation(image)
    return res
