"""Per-image preprocessing: mask checks, DCE phases, MG orientation, N4, resampling, normalisation.

Order per image: read (any format, no header metadata kept) -> DCE phase / subtraction -> masks
checked against the image grid (ROI label, small misalignment resampled, large refused) ->
MG chest wall to one side -> N4 (3D) -> resampling -> percentile clipping -> normalisation ->
optional peritumoral rings -> QC overlay PNG + QC record. Masks follow every geometric step with
nearest-neighbour interpolation, so each rater's ROI stays aligned with the preprocessed image.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError, Problem
from .io import RASTER_SUFFIXES, atomic_path, read_image, spacing_source, write_image

log = logging.getLogger(__name__)

INTERPOLATORS = ("bspline", "linear", "nearest", "lanczos")


@dataclass(frozen=True)
class N4Settings:
    enabled: bool = False
    backend: str = "simpleitk"  # "ants" uses ANTsPy's N4 (as seed 001); SimpleITK's is cheaper to start
    shrink: int = 2
    iterations: tuple[int, ...] = (50, 50, 30)
    tolerance: float | None = None  # convergence threshold; None: the backend's (SimpleITK 1e-3, ANTsPy 1e-7)
    spline_distance: float | None = None  # mm between B-spline knots; None: one mesh element (both backends)
    mask: str = "foreground"  # fit the field inside the Otsu body mask ("foreground") or everywhere ("none")
    skip_views: tuple[str, ...] = ()


@dataclass(frozen=True)
class DceSettings:
    phase: int | None = None  # phase of a 4D series to keep; None: the view's number (DCE2 -> 2)
    subtract: bool = False  # phase minus pre-contrast
    pre_phase: int = 0  # pre-contrast phase of a 4D series
    pre_view: str | None = None  # pre-contrast view (e.g. DCE0) when phases are separate 3D images


@dataclass(frozen=True)
class PreprocessSettings:
    spacing: tuple[float, ...] | None = None
    interpolation: str | None = None  # None: B-spline in 3D, linear in 2D
    normalize: str = "zscore"
    normalize_region: str = "foreground"  # statistics over the Otsu body mask or the whole "image"
    clip_percentiles: tuple[float, float] | None = None
    n4: N4Settings = field(default_factory=N4Settings)
    dce: DceSettings = field(default_factory=DceSettings)
    flip: str = "none"  # MG: "chest_wall_left" / "chest_wall_right"
    pixel_spacing: tuple[float, ...] | None = None  # 2D files that state no spacing
    roi_label: int | dict | None = None  # None: any nonzero voxel; or one label, or {view: label}
    min_roi_voxels: int = 10
    align_tolerance_voxels: float = 1.5
    ring_mm: float | None = None
    threads: int = 1

    @classmethod
    def from_config(cls, cfg: dict) -> "PreprocessSettings":
        n4 = dict(cfg.get("n4") or {})
        if "iterations" in n4:
            n4["iterations"] = tuple(n4["iterations"])
        if "skip_views" in n4:
            n4["skip_views"] = tuple(n4["skip_views"])
        tup = lambda k: tuple(cfg[k]) if cfg.get(k) else None  # noqa: E731
        return cls(spacing=tup("spacing"), interpolation=cfg.get("interpolation"),
                   normalize=cfg.get("normalize", "zscore"), normalize_region=cfg.get("normalize_region", "foreground"),
                   clip_percentiles=tup("clip_percentiles"), n4=N4Settings(**n4), dce=DceSettings(**(cfg.get("dce") or {})),
                   flip=cfg.get("flip", "none"), pixel_spacing=tup("pixel_spacing"), roi_label=cfg.get("roi_label"),
                   min_roi_voxels=cfg.get("min_roi_voxels", 10),
                   align_tolerance_voxels=cfg.get("align_tolerance_voxels", 1.5), ring_mm=cfg.get("ring_mm"),
                   threads=cfg.get("threads", 1))

    def label_for(self, view: str) -> int | None:
        if isinstance(self.roi_label, dict):
            return self.roi_label.get(view)
        return self.roi_label


def set_threads(threads: int) -> None:
    """ITK's thread pool (SimpleITK and ANTsPy's own ITK, which reads the variable on import)."""
    import SimpleITK as sitk

    threads = max(1, int(threads))
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def foreground_mask(image):
    """Body/breast foreground by Otsu: N4 and normalisation should ignore the air."""
    import SimpleITK as sitk

    return sitk.OtsuThreshold(image, 0, 1, 128)


def _strip(image):
    """Float32 copy with geometry only."""
    import SimpleITK as sitk

    out = sitk.GetImageFromArray(sitk.GetArrayFromImage(image).astype(np.float32))
    out.CopyInformation(image)
    return out


# ---------------------------------------------------------------------------------------------
# masks and geometry


@dataclass(frozen=True)
class Grid:
    """A voxel grid without pixels (size, spacing, origin, direction): what the geometry rule compares.

    Validation keeps grids rather than images so that checking a whole cohort holds no pixels.
    """

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image) -> "Grid":
        if isinstance(image, Grid):
            return image
        return cls(tuple(image.GetSize()), tuple(image.GetSpacing()), tuple(image.GetOrigin()),
                   tuple(image.GetDirection()))

    @property
    def dimension(self) -> int:
        return len(self.size)

    def leading(self, d: int) -> "Grid":
        """The grid of the first `d` axes: one phase of a 4D DCE series, as `dce_select` extracts it."""
        n = self.dimension
        direction = np.asarray(self.direction).reshape(n, n)[:d, :d]
        return Grid(self.size[:d], self.spacing[:d], self.origin[:d], tuple(direction.ravel()))

    def physical(self, index: np.ndarray) -> np.ndarray:
        """Physical points of continuous indices (n, d), as ITK: origin + D diag(spacing) index."""
        d = self.dimension
        direction = np.asarray(self.direction, float).reshape(d, d)
        return np.asarray(self.origin, float) + (np.asarray(index, float) * np.asarray(self.spacing)) @ direction.T


def geometry_mismatch(image, mask) -> float:
    """Largest displacement, in image voxels along the image axes, between corresponding corners
    of the two grids' physical extents (voxel-centre corners). 0 for identical grids; a one-voxel
    origin shift gives 1; a different size, spacing or direction gives the extent difference.

    `image` and `mask` are SimpleITK images or `Grid`s.
    """
    image, mask = Grid.of(image), Grid.of(mask)
    if image.dimension != mask.dimension:
        return float("inf")

    def corners(g: Grid):
        size = np.asarray(g.size) - 1
        idx = np.array(np.meshgrid(*[[0, s] for s in size], indexing="ij")).reshape(g.dimension, -1).T
        return g.physical(idx)

    delta = corners(mask) - corners(image)
    direction = np.asarray(image.direction).reshape(image.dimension, -1)
    in_voxels = (delta @ direction) / np.asarray(image.spacing)  # onto the image axes
    return float(np.abs(in_voxels).max())


@dataclass(frozen=True)
class Alignment:
    """Verdict of the image/mask geometry rule, shared by validation and preprocessing."""

    action: str  # "same" (grids identical), "resample" (within tolerance) or "refuse"
    offset: float  # geometry_mismatch in image voxels
    message: str | None = None  # the warning ("resample") or the error ("refuse")


def judge_alignment(image, mask, image_path: str, mask_path: str, tolerance_voxels: float) -> Alignment:
    """The one rule for an image and its mask: identical grids (to 1e-3 voxel) pass; corners up to
    `tolerance_voxels` image voxels apart are realigned (resampled, warned about); anything larger
    means the mask belongs to another image or export, and is refused naming both files."""
    image, mask = Grid.of(image), Grid.of(mask)
    if image.dimension != mask.dimension:
        return Alignment("refuse", float("inf"), f"mask {mask_path} is {mask.dimension}D and image {image_path} is "
                                                 f"{image.dimension}D: export the mask from the same series as "
                                                 "the image")
    off = geometry_mismatch(image, mask)
    if off <= 1e-3 and mask.size == image.size:
        return Alignment("same", off)
    describe = (f"mask {mask_path} (size {mask.size}, spacing {_fmt(mask.spacing)}, origin {_fmt(mask.origin)}) "
                f"and image {image_path} (size {image.size}, spacing {_fmt(image.spacing)}, origin "
                f"{_fmt(image.origin)})")
    if off > tolerance_voxels:
        return Alignment("refuse", off, f"{describe} cover different physical extents (corners up to {off:.3g} "
                                        f"voxels apart, tolerance {tolerance_voxels:g}): export the mask from "
                                        "the same series as the image")
    return Alignment("resample", off, f"{describe} differ by {off:.3g} voxels; mask resampled onto the image "
                                      "grid (nearest neighbour)")


def read_mask(path: str, image):
    """Read a mask for `image` (a SimpleITK image or `Grid`).

    A raster mask (PNG/JPEG/TIFF/BMP export) has no geometry of its own - a drawing tool's
    72 dpi is not a pixel spacing - so it takes the image's spacing, origin and direction and
    only its size is compared. A 2D DICOM mask without spacing tags falls back to the image's.
    """
    from pathlib import Path

    grid = Grid.of(image)
    if Path(path).suffix.lower() in RASTER_SUFFIXES:
        # (1, 1) only lets a 2D raster mask of a 3D image be read: judge_alignment refuses it.
        mask = read_image(path, pixel_spacing=grid.spacing if grid.dimension == 2 else (1.0, 1.0))
        if mask.GetDimension() == grid.dimension:
            mask.SetSpacing(grid.spacing)
            mask.SetOrigin(grid.origin)
            mask.SetDirection(grid.direction)
        return mask
    return read_image(path, fallback_spacing=grid.spacing if grid.dimension == 2 else None)


def align_mask(mask, image, mask_path: str, image_path: str, tolerance_voxels: float):
    """Put a mask on the image grid by `judge_alignment`. Returns (mask, warning or None); a refused
    mask raises InputError naming both files."""
    import SimpleITK as sitk

    verdict = judge_alignment(image, mask, image_path, mask_path, tolerance_voxels)
    if verdict.action == "refuse":
        raise InputError(Problem(mask_path, verdict.message))
    if verdict.action == "same":
        mask = sitk.Image(mask)
        mask.CopyInformation(image)
        return mask, None
    log.warning("%s", verdict.message)
    return (sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID()),
            verdict.message)


def _fmt(v) -> str:
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"


def select_label(mask, label: int | None, mask_path: str):
    """Binary uint8 ROI: the configured label of a multi-label mask, or any nonzero voxel."""
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(mask)
    if label is None:
        roi = arr != 0
    else:
        roi = arr == label
        if not roi.any():
            present = [int(v) for v in np.unique(arr) if v != 0]
            raise InputError(Problem(mask_path, f"ROI label {label} not found (labels present: {present}); "
                                                "set preprocess.<MOD>.roi_label"))
    out = sitk.GetImageFromArray(roi.astype(np.uint8))
    out.CopyInformation(mask)
    return out


def touches_border(mask_arr: np.ndarray) -> list[str]:
    """Image axes (x, y, z) along which the ROI reaches the first or last voxel."""
    names = "xyz"[: mask_arr.ndim][::-1]  # numpy axis order is (z,) y, x
    out = []
    for ax, name in enumerate(names):
        if np.take(mask_arr, 0, axis=ax).any() or np.take(mask_arr, -1, axis=ax).any():
            out.append(name)
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# intensity and geometry steps


def dce_select(image, view: str, dce: DceSettings, pre_image=None, pre_path: str | None = None):
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
        out = _strip(pick(phase))
        step = f"DCE phase {phase} of {n}"
        if dce.subtract:
            out = out - _strip(pick(dce.pre_phase))
            step += f" minus pre-contrast phase {dce.pre_phase}"
        return out, step
    if dce.subtract and pre_image is not None:
        if geometry_mismatch(image, pre_image) > 1e-3 or image.GetSize() != pre_image.GetSize():
            raise InputError(Problem(pre_path or "pre-contrast", "pre-contrast image is not on the grid of the "
                                                                  "post-contrast image; cannot subtract"))
        image, pre = _strip(image), _strip(pre_image)
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


def n4_correct(image, settings: N4Settings, mask=None):
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


# ---------------------------------------------------------------------------------------------
# one image


def preprocess_image(image_path: str, masks: dict[str, str], modality: str, view: str,
                     settings: PreprocessSettings, out_dir: str, threads: int = 1,
                     pixel_spacing=None, pre_image_path: str | None = None, primary: str | None = None) -> dict:
    """Preprocess one image and all raters' masks of it into `out_dir` (written atomically).

    Writes `image.nii.gz`, `mask-<rater>.nii.gz`, `ring-<rater>.nii.gz` (with `ring_mm`),
    `qc.png` (mask contour over the preprocessed image) and `qc.json` (the QC record).
    """
    import SimpleITK as sitk

    from . import qc as qcmod
    from .roi import peritumoral_ring

    set_threads(threads)
    image = read_image(image_path, pixel_spacing=pixel_spacing, fallback_spacing=settings.pixel_spacing)
    spacing_from = spacing_source(image)
    raw_spacing = list(image.GetSpacing())
    steps, warnings = [], []
    pre = read_image(pre_image_path) if pre_image_path else None
    image, step = dce_select(image, view, settings.dce, pre, pre_image_path)
    if step:
        steps.append(step)
    image = _strip(image)  # float32
    raw_range = _range(image)

    label = settings.label_for(view)
    roi = {}
    for rater, mpath in sorted(masks.items()):
        m = read_mask(mpath, image)
        m, warn = align_mask(select_label(m, label, mpath), image, mpath, image_path, settings.align_tolerance_voxels)
        if warn:
            warnings.append(f"rater {rater}: {warn}")
        roi[rater] = m

    if settings.flip != "none" and image.GetDimension() == 2:
        want = settings.flip.removeprefix("chest_wall_")
        side = chest_wall_side(image)
        if side != want:
            image = flip_x(image)
            roi = {r: flip_x(m) for r, m in roi.items()}
            steps.append(f"flipped left-right (chest wall was {side})")
    if settings.n4.enabled and image.GetDimension() == 3 and view not in settings.n4.skip_views:
        fg = foreground_mask(image) if settings.n4.mask == "foreground" else None
        image = n4_correct(image, settings.n4, fg)
        steps.append(f"N4 ({settings.n4.backend}, shrink {settings.n4.shrink}, iterations "
                     f"{list(settings.n4.iterations)}, mask {settings.n4.mask})")
    if settings.spacing is not None:
        interp = interpolator(settings.interpolation, image.GetDimension())
        image = resample(image, settings.spacing, interp)
        steps.append(f"resampled to {tuple(settings.spacing)} mm "
                     f"({settings.interpolation or ('bspline' if image.GetDimension() == 3 else 'linear')})")
    image = normalize(image, settings.normalize, settings.normalize_region, settings.clip_percentiles)
    if settings.clip_percentiles:
        steps.append(f"clipped to percentiles {list(settings.clip_percentiles)} ({settings.normalize_region})")
    steps.append(f"normalised ({settings.normalize}, {settings.normalize_region})")

    out_masks, rings = {}, {}
    spacing_np = image.GetSpacing()[::-1]
    for rater, m in roi.items():
        m = sitk.Resample(m, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        n = int(sitk.GetArrayViewFromImage(m).sum())
        n_raw = int(sitk.GetArrayViewFromImage(roi[rater]).sum())
        if n == 0:
            raise InputError(Problem(masks[rater], f"mask is empty on the preprocessed grid of {image_path} "
                                                   f"({n_raw} voxels before resampling)"))
        if n < settings.min_roi_voxels:
            raise InputError(Problem(masks[rater], f"ROI has {n} voxels after preprocessing ({n_raw} before), fewer "
                                                   f"than preprocess.{modality}.min_roi_voxels = {settings.min_roi_voxels}"))
        axes = touches_border(sitk.GetArrayViewFromImage(m))
        if axes:
            warnings.append(f"rater {rater}: ROI touches the image border along {', '.join(axes)}")
        out_masks[rater] = m
        if settings.ring_mm:
            ring = sitk.GetImageFromArray(peritumoral_ring(sitk.GetArrayViewFromImage(m), spacing_np,
                                                           settings.ring_mm).astype(np.uint8))
            ring.CopyInformation(image)
            rings[rater] = ring
    if settings.ring_mm:
        steps.append(f"peritumoral ring {settings.ring_mm:g} mm")

    img_arr = sitk.GetArrayViewFromImage(image)
    record = qcmod.qc_record(image_path=image_path, modality=modality, view=view, image=image,
                             masks={r: sitk.GetArrayViewFromImage(m) for r, m in out_masks.items()},
                             spacing_source=spacing_from, raw_spacing=raw_spacing, raw_range=raw_range,
                             steps=steps, warnings=warnings)
    with atomic_path(out_dir, directory=True) as tmp:
        write_image(image, tmp / "image.nii.gz")
        for rater, m in out_masks.items():
            write_image(m, tmp / f"mask-{rater}.nii.gz")
        for rater, m in rings.items():
            write_image(m, tmp / f"ring-{rater}.nii.gz")
        shown = primary if primary in out_masks else sorted(out_masks)[0]
        qcmod.overlay_png(img_arr, sitk.GetArrayViewFromImage(out_masks[shown]), tmp / "qc.png",
                          spacing=image.GetSpacing()[::-1])
        (tmp / "qc.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    for w in warnings:
        log.warning("%s %s %s: %s", modality, view, image_path, w)
    log.info("%s %s %s: %s", modality, view, image_path, "; ".join(steps))
    return record


def _range(image) -> list[float]:
    import SimpleITK as sitk

    a = sitk.GetArrayViewFromImage(image)
    return [float(a.min()), float(a.max())]


def rule_extra_args(images, patient: str, modality: str, view: str, preprocess_cfg: dict) -> str:
    """Optional arguments of one `preprocess` job from the manifest table (`images`, a DataFrame).

    `--pixel-spacing` from an optional manifest column `pixel_spacing` ("x,y" mm); `--pre-image`
    (the same patient's `dce.pre_view` image) when separate-file DCE subtraction is configured.
    """
    import shlex

    args = []
    rows = images[(images.patient_id == patient) & (images.modality == modality) & (images.view == view)]
    if "pixel_spacing" in images.columns and len(rows):
        value = rows.pixel_spacing.iloc[0]
        if isinstance(value, str) and value.strip():
            args.append("--pixel-spacing " + shlex.quote(value.strip()))
    dce = (preprocess_cfg.get(modality) or {}).get("dce") or {}
    pre_view = dce.get("pre_view")
    if dce.get("subtract") and pre_view and re.match(r"^DCE\d+$", view) and view != pre_view:
        pre = images[(images.patient_id == patient) & (images.modality == modality) & (images.view == pre_view)]
        if not len(pre):
            raise ValueError(f"preprocess.{modality}.dce.pre_view {pre_view}: patient {patient} has no such image "
                             "(list the view under 'views')")
        args.append("--pre-image " + shlex.quote(str(pre.image.iloc[0])))
    return " ".join(args)


def raters_in(prep_dir, roi: str = "mask") -> list[str]:
    """Raters whose masks (`roi="mask"`) or peritumoral rings (`roi="ring"`) a preprocessed image
    folder holds."""
    from pathlib import Path

    return sorted(p.name[len(f"{roi}-"):-len(".nii.gz")] for p in Path(prep_dir).glob(f"{roi}-*.nii.gz"))


def main(argv: list[str] | None = None) -> None:
    """`python -m axilla.preprocess`: the `preprocess` rule's command (`bench` as first argument:
    the preprocessing benchmark, see `axilla.qc.bench_main`).

    A shell command rather than a `script:` because this runs once per image: Snakemake's script
    wrapper costs ~0.3 s of imports per job, a fifth of the whole study's time on the demo.
    """
    import argparse
    import sys

    from .io import parse_pixel_spacing, setup_logging

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        from .qc import bench_main

        return bench_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m axilla.preprocess", description=main.__doc__)
    ap.add_argument("--image", required=True)
    ap.add_argument("--mask", action="append", default=[], metavar="RATER=PATH", required=True)
    ap.add_argument("--modality", required=True)
    ap.add_argument("--view", required=True)
    ap.add_argument("--settings", default="{}", help="JSON: the modality's `preprocess` config")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pixel-spacing", default="", help="per-row 2D spacing 'x,y' in mm (manifest pixel_spacing)")
    ap.add_argument("--pre-image", default="", help="pre-contrast image for DCE subtraction")
    ap.add_argument("--primary", default=None, help="rater whose mask the QC overlay shows")
    ap.add_argument("--out", required=True)
    ap.add_argument("--log")
    a = ap.parse_args(argv)
    setup_logging(a.log)
    masks = dict(m.split("=", 1) for m in a.mask)
    spacing = parse_pixel_spacing(a.pixel_spacing) if a.pixel_spacing else None
    preprocess_image(a.image, masks, a.modality, a.view, PreprocessSettings.from_config(json.loads(a.settings)),
                     a.out, threads=a.threads, pixel_spacing=spacing, pre_image_path=a.pre_image or None,
                     primary=a.primary)


if __name__ == "__main__":
    main()
