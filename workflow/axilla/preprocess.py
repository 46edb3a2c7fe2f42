"""Per-image preprocessing: N4 bias-field correction (MRI), resampling, intensity normalisation.

Masks follow the image onto the new grid with nearest-neighbour interpolation, so every
rater's ROI stays aligned with the preprocessed image.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np

from .io import atomic_path, read_image, write_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class N4Settings:
    enabled: bool = False
    backend: str = "simpleitk"  # "ants" uses ANTsPy's N4 (as seed 001); SimpleITK's is cheaper to start
    shrink: int = 2
    iterations: tuple[int, ...] = (50, 50, 30)
    skip_views: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreprocessSettings:
    spacing: tuple[float, ...] | None = None
    normalize: str = "zscore"
    n4: N4Settings = field(default_factory=N4Settings)

    @classmethod
    def from_config(cls, cfg: dict) -> "PreprocessSettings":
        n4 = cfg.get("n4") or {}
        return cls(spacing=tuple(cfg["spacing"]) if cfg.get("spacing") else None,
                   normalize=cfg.get("normalize", "zscore"),
                   n4=N4Settings(enabled=n4.get("enabled", False), backend=n4.get("backend", "simpleitk"),
                                 shrink=n4.get("shrink", 2), iterations=tuple(n4.get("iterations", (50, 50, 30))),
                                 skip_views=tuple(n4.get("skip_views", ()))))


def foreground_mask(image):
    """Body/breast foreground by Otsu: N4 and normalisation should ignore the air."""
    import SimpleITK as sitk

    return sitk.OtsuThreshold(image, 0, 1, 128)


def n4_correct(image, settings: N4Settings):
    """Multiplicative bias-field correction; the field is fitted on a shrunk copy, applied at full size."""
    import SimpleITK as sitk

    image = sitk.Cast(image, sitk.sitkFloat32)
    if settings.backend == "ants":
        import ants

        arr = sitk.GetArrayFromImage(image)
        ai = ants.from_numpy(arr.T.copy(), origin=image.GetOrigin(), spacing=image.GetSpacing(),
                             direction=np.asarray(image.GetDirection()).reshape(image.GetDimension(), -1))
        out = ants.n4_bias_field_correction(ai, shrink_factor=settings.shrink,
                                            convergence={"iters": list(settings.iterations), "tol": 1e-7})
        res = sitk.GetImageFromArray(out.numpy().T.astype(np.float32))
        res.CopyInformation(image)
        return res
    shrunk = sitk.Shrink(image, [settings.shrink] * image.GetDimension())
    f = sitk.N4BiasFieldCorrectionImageFilter()
    f.SetMaximumNumberOfIterations(list(settings.iterations))
    f.Execute(shrunk, foreground_mask(shrunk))
    log_field = f.GetLogBiasFieldAsImage(image)
    return sitk.Cast(image / sitk.Exp(log_field), sitk.sitkFloat32)


def resample(image, spacing, interpolator, default=0.0):
    """Resample onto a grid with the given spacing that covers the same physical extent."""
    import SimpleITK as sitk

    old_sp = np.asarray(image.GetSpacing())
    new_sp = np.asarray(spacing, dtype=float)
    if new_sp.size != old_sp.size:
        raise ValueError(f"spacing {tuple(spacing)} has {new_sp.size} values; the image is {old_sp.size}D")
    size = np.maximum(1, np.round(np.asarray(image.GetSize()) * old_sp / new_sp)).astype(int)
    return sitk.Resample(image, [int(s) for s in size], sitk.Transform(), interpolator, image.GetOrigin(),
                         tuple(new_sp), image.GetDirection(), default, image.GetPixelID())


def normalize(image, method: str):
    import SimpleITK as sitk

    if method == "none":
        return image
    arr = sitk.GetArrayFromImage(image).astype(np.float32)
    fg = sitk.GetArrayFromImage(foreground_mask(image)).astype(bool)
    ref = arr[fg] if fg.sum() > 10 else arr.ravel()
    if method == "zscore":
        sd = ref.std()
        out = (arr - ref.mean()) / (sd if sd > 0 else 1.0)
    elif method == "minmax":
        lo, hi = ref.min(), ref.max()
        out = (arr - lo) / (hi - lo if hi > lo else 1.0)
    else:
        raise ValueError(f"unknown normalisation '{method}'")
    res = sitk.GetImageFromArray(out.astype(np.float32))
    res.CopyInformation(image)
    return res


def preprocess_image(image_path: str, masks: dict[str, str], modality: str, view: str,
                     settings: PreprocessSettings, out_dir: str, threads: int = 1) -> dict:
    """Preprocess one image and all raters' masks of it into `out_dir` (written atomically).

    Writes `image.nii.gz`, `mask-<rater>.nii.gz` and `qc.json` (geometry, ROI sizes, steps).
    """
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, threads))
    image = sitk.Cast(read_image(image_path), sitk.sitkFloat32)
    steps = []
    if settings.n4.enabled and image.GetDimension() == 3 and view not in settings.n4.skip_views:
        image = n4_correct(image, settings.n4)
        steps.append(f"N4 ({settings.n4.backend}, shrink {settings.n4.shrink}, iterations {list(settings.n4.iterations)})")
    if settings.spacing is not None:
        image = resample(image, settings.spacing, sitk.sitkBSpline if image.GetDimension() == 3 else sitk.sitkLinear)
        steps.append(f"resampled to {tuple(settings.spacing)} mm")
    image = normalize(image, settings.normalize)
    steps.append(f"normalised ({settings.normalize})")

    out_masks = {}
    for rater, mpath in sorted(masks.items()):
        m = read_image(mpath)
        # Onto the preprocessed image grid; nearest neighbour keeps labels crisp.
        m = sitk.Resample(sitk.Cast(m > 0, sitk.sitkUInt8), image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
        if not np.any(sitk.GetArrayViewFromImage(m)):
            raise ValueError(f"mask {mpath} is empty after resampling onto the image grid of {image_path}")
        out_masks[rater] = m

    qc = {
        "image": image_path, "modality": modality, "view": view, "steps": steps,
        "size": list(image.GetSize()), "spacing": list(image.GetSpacing()),
        "roi_voxels": {r: int(sitk.GetArrayViewFromImage(m).sum()) for r, m in out_masks.items()},
    }
    with atomic_path(out_dir, directory=True) as tmp:
        write_image(image, tmp / "image.nii.gz")
        for rater, m in out_masks.items():
            write_image(m, tmp / f"mask-{rater}.nii.gz")
        (tmp / "qc.json").write_text(json.dumps(qc, indent=2, sort_keys=True) + "\n")
    log.info("%s %s %s: %s", modality, view, image_path, "; ".join(steps))
    return qc


def raters_in(prep_dir) -> list[str]:
    """Raters whose masks a preprocessed image folder holds."""
    from pathlib import Path

    return sorted(p.name[len("mask-"):-len(".nii.gz")] for p in Path(prep_dir).glob("mask-*.nii.gz"))


def main(argv: list[str] | None = None) -> None:
    """`python -m axilla.preprocess`: the `preprocess` rule's command.

    A shell command rather than a `script:` because this runs once per image: Snakemake's script
    wrapper costs ~0.3 s of imports per job, a fifth of the whole study's time on the demo.
    """
    import argparse

    from .io import setup_logging

    ap = argparse.ArgumentParser(prog="python -m axilla.preprocess", description=main.__doc__)
    ap.add_argument("--image", required=True)
    ap.add_argument("--mask", action="append", default=[], metavar="RATER=PATH", required=True)
    ap.add_argument("--modality", required=True)
    ap.add_argument("--view", required=True)
    ap.add_argument("--settings", default="{}", help="JSON: the modality's `preprocess` config")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--log")
    a = ap.parse_args(argv)
    setup_logging(a.log)
    masks = dict(m.split("=", 1) for m in a.mask)
    preprocess_image(a.image, masks, a.modality, a.view, PreprocessSettings.from_config(json.loads(a.settings)),
                     a.out, threads=a.threads)


if __name__ == "__main__":
    main()
