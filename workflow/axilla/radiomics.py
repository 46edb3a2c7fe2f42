"""Radiomics with pyradiomics: one job per image, every rater's mask of that image.

Feature columns are named `<modality>_<view>_<imageType>_<class>_<feature>`, e.g.
`MRI_DCE2_original_glcm_Contrast`. When preprocessing wrote peritumoral rings
(`preprocess.<MOD>.ring_mm`), every feature is also extracted on each rater's ring, named
`<modality>_<view>_ring_<imageType>_<class>_<feature>`: the primary rater's go into the feature
table, and the other raters' let the ICC filter judge ring features as it judges the ROI's
(with the primary rater's alone, every ring feature would have an undefined ICC and be dropped).

Work shared between raters: pyradiomics' `execute` filters the whole image (LoG, wavelet, LBP)
for every mask and only then crops to the mask's bounding box, so with several raters' masks of
one image it would filter the same image once per mask. `extract_masks` runs the same steps as
`execute` but filters once and crops every rater's mask from each filtered image; the values
equal per-mask `execute` exactly (tested). The one mask-dependent filter, LBP3D, is evaluated
on the union of the masks: its value at a voxel depends on the image around that voxel only.
Resampling inside pyradiomics (`resampledPixelSpacing`) crops image and mask together per mask,
so there the filtered images differ per mask and each mask runs on its own. Rings are masks
like the others here: one job filters the image once for every rater's ROI and ring.

With `reproducibility.source: perturbation` the job also extracts perturbed copies of the primary
rater's mask (axilla.mask_perturbation) as pseudo-raters `~erode`, `~dilate`, `~contour1`, ... in
the same pass (the image is still filtered once). Rings are perturbed too: each perturbed ROI gets
the ring preprocessing would have drawn around it (the ring is defined by the ROI's boundary, so a
moved boundary moves it; unperturbed rings would leave every ring feature without an ICC).
"""

from __future__ import annotations

import csv
import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .exclusion import is_marker_csv, marker, write_marker_csv
from .io import atomic_path, write_csv
from .preprocess import raters_in

log = logging.getLogger(__name__)


def _planar(image, settings: dict):
    """Planar images as pyradiomics handles them correctly: a 2D image without `force2D`.

    `force2D` is meant for 3D volumes: pyradiomics drops numpy axis `force2Ddimension` from the
    GLCM/GLRLM angles and from the wavelet axes, which on a 2D array is an in-plane axis (GLCM with
    one direction instead of four, wavelet along x only). A one-slice 3D volume (e.g. a DICOM
    mammogram) becomes a 2D image, which also lets LoG run (it needs 4 voxels in every axis).
    """
    import SimpleITK as sitk

    if not settings.get("force2D", False):
        return image, settings
    if image.GetDimension() == 3:
        axis = 2 - int(settings.get("force2Ddimension", 0))  # numpy axis -> SimpleITK index
        size = list(image.GetSize())
        if size[axis] != 1:
            return image, settings  # a true volume extracted slice-wise: pyradiomics' own case
        size[axis] = 0
        image = sitk.Extract(image, size, [0, 0, 0])
    settings = {k: v for k, v in settings.items() if k not in ("force2D", "force2Ddimension")}
    return image, settings


def make_extractor(params):
    """A pyradiomics extractor from a parameter file path or dict, with its console quietened."""
    from radiomics import featureextractor, setVerbosity

    setVerbosity(logging.WARNING)
    # Informational, but logged as a warning once per image: it would flood the console.
    logging.getLogger("radiomics.glcm").setLevel(logging.ERROR)
    return featureextractor.RadiomicsFeatureExtractor(params if isinstance(params, dict) else str(params))


def extract_masks(extractor, image, masks: dict) -> dict:
    """Features of every mask of one image, filters computed once (see the module docstring).

    `image` and `masks` are SimpleITK images (masks on the image grid, label `label`); returns
    mask key (a rater, or any key the caller uses) -> pyradiomics' result without its
    `diagnostics_` entries.
    """
    import SimpleITK as sitk
    from radiomics import imageoperations

    if not masks:
        return {}
    image, settings = _planar(image, extractor.settings)
    masks = {r: _planar(m, extractor.settings)[0] for r, m in masks.items()}
    if settings.get("resampledPixelSpacing") is not None:
        saved = extractor.settings
        extractor.settings = settings
        try:
            return {r: _strip(extractor.execute(image, m)) for r, m in masks.items()}
        finally:
            extractor.settings = saved
    label = settings.get("label", 1)
    reseg_shape = settings.get("resegmentShape", False)
    loaded, out, base = {}, {}, None
    for r, m in masks.items():
        # Without resampling, loadImage normalises the image (mask-independent) and casts the mask.
        img, mask = extractor.loadImage(image, m, None, **settings)
        bbox, corrected = imageoperations.checkMask(img, mask, **settings)
        if corrected is not None:
            mask = corrected
        reseg = None
        if settings.get("resegmentRange") is not None:
            reseg = imageoperations.resegmentMask(img, mask, **settings)
            bbox, _ = imageoperations.checkMask(img, reseg, **settings)
        out[r] = OrderedDict(extractor.computeShape(img, reseg if reseg_shape and reseg is not None else mask,
                                                    bbox, **settings))
        loaded[r] = (reseg if reseg is not None else mask, bbox)
        base = img if base is None else base
    union = None
    for mask, _ in loaded.values():
        roi = sitk.Cast(mask == label, sitk.sitkUInt32)
        union = roi if union is None else sitk.Or(union, roi)
    union = sitk.Cast(union * label, sitk.sitkUInt32)
    for image_type, custom in extractor.enabledImagetypes.items():
        args = {**settings, **custom}
        for filtered, name, kwargs in getattr(imageoperations, f"get{image_type}Image")(base, union, **args):
            for r, (mask, bbox) in loaded.items():
                cropped, cropped_mask = imageoperations.cropToTumorMask(filtered, mask, bbox, padDistance=0)
                out[r].update(extractor.computeFeatures(cropped, cropped_mask, name, **kwargs))
    return out


def _auto_rois(extractor, image, path: str, ring_mm: float | None) -> dict:
    """{("mask", AUTO): the automatic mask, ("ring", AUTO): its ring} on the image's grid, or {}
    when pyradiomics' own mask checks (label present, dimensions, minimumROISize) refuse it."""
    from radiomics import imageoperations

    from .autoroi import AUTO, read_mask, ring_of

    mask = read_mask(path, image)
    img, settings = _planar(image, extractor.settings)
    try:
        imageoperations.checkMask(img, _planar(mask, extractor.settings)[0], **settings)
    except ValueError as e:
        log.warning("%s: automatic mask unusable, no features for this image (%s)", path, e)
        return {}
    return {("mask", AUTO): mask, **({("ring", AUTO): ring_of(mask, image, ring_mm)} if ring_mm else {})}


def _strip(result) -> OrderedDict:
    return OrderedDict((k, v) for k, v in result.items() if not k.startswith("diagnostics_"))


ROIS = ("mask", "ring")  # preprocess output files <roi>-<rater>.nii.gz


def feature_name(modality: str, view: str, key: str, roi: str = "mask") -> str:
    """Column name of a pyradiomics feature `key`: the ROI's unprefixed (names kept from before
    rings existed), other ROIs' with the ROI after the view (`MRI_T2_ring_original_...`)."""
    return f"{modality}_{view}_{key}" if roi == "mask" else f"{modality}_{view}_{roi}_{key}"


def extract_image(prep_dir: str, params_file: str, modality: str, view: str, out_csv: str,
                  min_roi_voxels: int | None = None, *, perturb: dict | None = None,
                  auto_mask: str | None = None, ring_mm: float | None = None) -> list[tuple]:
    """Extract features for every rater's mask (and peritumoral ring, when preprocessing wrote
    rings) of one preprocessed image, filtering the image once; write a tidy table.

    Preprocessed ROIs are 0/1, so pyradiomics gets label 1; its minimumROISize is the study's one
    size limit, ``preprocess.<MOD>.min_roi_voxels`` (which `validate` already checked), which the
    rule passes; without it (a direct call), the parameter file's own. `perturb` (keys `primary`,
    `kinds`, `contours`, `seed`, `image_id`) adds the primary mask's perturbations as pseudo-raters.
    `auto_mask` (roi.source: auto): the automatic mask file, whose features (and its ring's, with
    `ring_mm`) are rows of rater axilla.autoroi.AUTO; a mask pyradiomics refuses gives none (logged)."""
    import SimpleITK as sitk

    extractor = make_extractor(params_file)
    extractor.settings["label"] = 1
    if min_roi_voxels is not None:
        extractor.settings["minimumROISize"] = min_roi_voxels
    image = sitk.ReadImage(str(Path(prep_dir) / "image.nii.gz"))
    masks = {(roi, r): sitk.ReadImage(str(Path(prep_dir) / f"{roi}-{r}.nii.gz"))
             for roi in ROIS for r in raters_in(prep_dir, roi)}
    if perturb:
        masks.update(perturbed_rois(prep_dir, masks, perturb, extractor.settings))
    if auto_mask is not None:
        masks.update(_auto_rois(extractor, image, auto_mask, ring_mm))
    rows = []
    for (roi, rater), result in extract_masks(extractor, image, masks).items():
        for key, value in result.items():
            rows.append((rater, feature_name(modality, view, key, roi), f"{float(np.asarray(value)):.10g}"))
    # csv, not pandas: this runs once per image and pandas alone costs 0.5 s of start-up.
    with atomic_path(out_csv) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["rater", "feature", "value"])
        w.writerows(rows)
    log.info("%s %s %s: %d features x %d raters (ROIs: %s)", modality, view, prep_dir, len({r[1] for r in rows}),
             len({r[0] for r in rows}), ", ".join(sorted({roi for roi, _ in masks})))
    return rows


def perturbed_rois(prep_dir: str, masks: dict, perturb: dict, settings: dict) -> dict:
    """(roi, pseudo-rater) -> SimpleITK mask: the primary mask's perturbations and their rings."""
    import json

    import SimpleITK as sitk

    from .autoroi import ring_of
    from .mask_perturbation import perturbed_masks, spatial_axes

    primary = perturb["primary"]
    if ("mask", primary) not in masks:
        log.warning("%s: no mask of the primary rater %s, nothing to perturb", prep_dir, primary)
        return {}
    ref = masks[("mask", primary)]
    arr = sitk.GetArrayFromImage(ref) != 0
    flat = int(settings.get("force2Ddimension", 0)) if settings.get("force2D") and arr.ndim == 3 else None
    perturbed = perturbed_masks(arr, perturb["kinds"], perturb["contours"], perturb["seed"], perturb["image_id"],
                                spatial_axes(arr.shape, flat), settings.get("minimumROISize") or 1)
    ring_mm = None
    if ("ring", primary) in masks:
        record = json.loads((Path(prep_dir) / "qc.json").read_text())
        ring_mm = record["preprocessing"]["ring"]["mm"]

    def image(a):
        out = sitk.GetImageFromArray(a.astype(np.uint8))
        out.CopyInformation(ref)
        return out

    out = {}
    for name, m in perturbed.items():
        out[("mask", name)] = image(m)
        if ring_mm:
            out[("ring", name)] = ring_of(out[("mask", name)], ref, ring_mm)
    if perturb.get("ensemble"):
        out.update(_ensemble_rois(perturb["ensemble"], Path(prep_dir).parent.name, ref, ring_mm))
    return out


def _ensemble_rois(segmentation: str, patient: str, ref, ring_mm: float | None) -> dict:
    """(roi, `~<network>`) -> each segmentation network's own mask of the image (kind `ensemble`:
    the networks as raters, on the primary mask's grid), and its ring; an empty one is skipped."""
    import SimpleITK as sitk

    from .autoroi import read_mask, ring_of
    from .mask_perturbation import PREFIX

    out = {}
    for net in sorted(d for d in Path(segmentation).iterdir() if (d / f"{patient}.nii.gz").exists()):
        mask = read_mask(net / f"{patient}.nii.gz", ref)
        if not sitk.GetArrayViewFromImage(mask).any():
            log.warning("%s: the %s network's mask is empty: not a rater of this image", patient, net.name)
            continue
        out[("mask", PREFIX + net.name)] = mask
        if ring_mm:
            out[("ring", PREFIX + net.name)] = ring_of(mask, ref, ring_mm)
    return out


def _by_rater(long):
    table = long.pivot_table(index=["patient_id", "rater"], columns="feature", values="value",
                             aggfunc="first", sort=True).reset_index()
    table.columns.name = None
    return table


def aggregate(tables: dict[str, str], primary_rater: str, out_wide: str, out_raters: str,
              auto_views=()) -> None:
    """Per-image tidy tables → a wide per-patient table (primary rater) and one row per patient × rater.

    `tables` maps patient_id → list of per-image CSV paths (<MOD_view>.csv); the markers of images
    whose patient validate excluded (:mod:`axilla.exclusion`) are left out. Views in `auto_views`
    (roi.source: auto) take the wide table's features from the automatic mask's rows instead
    (every patient stays a row, missing values where the mask was unusable); the by-rater table
    holds the manual masks' rows only, for the ICC.
    """
    import pandas as pd

    from .autoroi import AUTO

    frames = []
    for pid, paths in sorted(tables.items()):
        for p in paths:
            if is_marker_csv(p):
                continue
            df = pd.read_csv(p)
            df.insert(0, "patient_id", pid)
            df["auto_view"] = Path(p).stem in auto_views
            frames.append(df)
    long = pd.concat(frames, ignore_index=True)
    by_rater = _by_rater(long[long.rater != AUTO].drop(columns="auto_view"))
    if auto_views:
        chosen = long[long.auto_view.to_numpy() & (long.rater == AUTO).to_numpy()
                      | ~long.auto_view.to_numpy() & (long.rater == primary_rater).to_numpy()]
        chosen = chosen.drop(columns="auto_view").assign(rater=primary_rater)  # one row per patient
        primary = _by_rater(chosen).drop(columns="rater").set_index("patient_id")
        # every patient with a table, also one whose only image is maskless and its automatic mask unusable
        patients = sorted({pid for pid, paths in tables.items() if any(not is_marker_csv(p) for p in paths)})
        primary = primary.reindex(patients).rename_axis("patient_id").reset_index()
        log.info("radiomics table: automatic ROIs of %s", ", ".join(auto_views))
    else:
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
    ap.add_argument("--threads", type=int, default=1, help="SimpleITK filter threads")
    ap.add_argument("--min-roi-voxels", type=int, default=None,
                    help="preprocess.<MOD>.min_roi_voxels, pyradiomics' minimumROISize (default: the parameter file's)")
    ap.add_argument("--perturb", default=None,
                    help="comma-separated mask perturbations of the primary rater (reproducibility.source: perturbation)")
    ap.add_argument("--contours", type=int, default=3, help="contour randomisations (with --perturb contour)")
    ap.add_argument("--seed", type=int, default=0, help="study seed (contour randomisation)")
    ap.add_argument("--primary", default=None, help="primary rater (with --perturb)")
    ap.add_argument("--image-id", default=None, help="image id seeding its contour randomisation")
    ap.add_argument("--ensemble", default=None,
                    help="with --perturb ensemble: the view's segmentation folder (its networks' masks as raters)")
    ap.add_argument("--auto-mask", default=None, help="roi.source: auto: the image's automatic mask (axilla.autoroi)")
    ap.add_argument("--ring-mm", type=float, default=None, help="with --auto-mask: its peritumoral ring's width")
    ap.add_argument("--log")
    a = ap.parse_args(argv)
    setup_logging(a.log)
    excluded = marker(a.prep)
    if excluded is not None:  # validate excluded the patient: pass the marker on
        write_marker_csv(a.out, excluded["reason"])
        log.warning("%s %s: %s", a.modality, a.view, excluded["reason"])
        return
    import SimpleITK as sitk

    # One job per image and many at once: ITK's default (all cores) would oversubscribe.
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, a.threads))
    perturb = None
    if a.perturb:
        perturb = {"primary": a.primary, "kinds": a.perturb.split(","), "contours": a.contours, "seed": a.seed,
                   "image_id": a.image_id or f"{Path(a.prep).parent.name}/{a.modality}_{a.view}",
                   "ensemble": a.ensemble}
    extract_image(a.prep, a.params, a.modality, a.view, a.out, a.min_roi_voxels,
                  perturb=perturb, auto_mask=a.auto_mask, ring_mm=a.ring_mm)


if __name__ == "__main__":
    main()
