"""Visual and tabular QC of preprocessing: contour overlays, a per-image QC table, an HTML gallery.

Each preprocessed image folder holds `qc.png` (the primary rater's mask contour in red over the
preprocessed image; the largest-ROI axial slice for 3D) and `qc.json` (the record below);
`collect` gathers the records into `results/<study>/qc/preprocess.csv`.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from pathlib import Path

import numpy as np

from .exclusion import computed

log = logging.getLogger(__name__)

CONTOUR_RGB = (255, 40, 40)


def qc_record(*, image_path: str, modality: str, view: str, image, masks: dict, spacing_source: str,
              raw_spacing, raw_range, steps: list[str], warnings: list[str]) -> dict:
    """One QC row: geometry, ROI size per rater (voxels and mm² / mm³), intensity range, warnings."""
    arr = np.asarray(image if isinstance(image, np.ndarray) else _array(image))
    spacing = list(image.GetSpacing()) if not isinstance(image, np.ndarray) else None
    voxel = float(np.prod(spacing)) if spacing else 1.0
    p1, p99 = (float(v) for v in np.percentile(arr, [1, 99]))
    return {
        "image": str(image_path), "modality": modality, "view": view, "dimension": arr.ndim,
        "size": list(arr.shape[::-1]), "spacing": spacing, "raw_spacing": list(raw_spacing),
        "spacing_source": spacing_source, "raw_range": list(raw_range),
        "intensity": {"min": float(arr.min()), "p1": p1, "p99": p99, "max": float(arr.max())},
        "roi_voxels": {r: int(np.count_nonzero(m)) for r, m in masks.items()},
        "roi_mm": {r: float(np.count_nonzero(m)) * voxel for r, m in masks.items()},
        "roi_unit": "mm3" if arr.ndim == 3 else "mm2",
        "steps": list(steps), "warnings": list(warnings), "png": "qc.png",
    }


def _array(image):
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(image)


def overlay_slice(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None]:
    """The 2D image and mask to show: the image itself (2D) or the axial slice of largest ROI area (3D)."""
    from .roi import largest_slice

    image, mask = np.asarray(image), np.asarray(mask) != 0
    if image.ndim == 3 and not mask.any():  # no ROI (an image without a manual mask): the middle slice
        index = image.shape[0] // 2
        return image[index], mask[index].astype(np.uint8), index
    if image.ndim == 3:
        return largest_slice(image, mask, axis=0)
    return image, mask.astype(np.uint8), None


def overlay_rgb(image: np.ndarray, mask: np.ndarray, spacing=None, max_side: int = 256) -> np.ndarray:
    """uint8 RGB: grey image windowed to its 1st-99th percentile, ROI outline in red.

    Scaled (nearest pixel) so the longer side is `max_side` pixels with square physical pixels
    (slice spacing honoured); the outline is traced at display resolution so it stays one pixel wide.
    """
    img2, m2, _ = overlay_slice(image, mask)
    img2 = np.asarray(img2, dtype=np.float64)
    lo, hi = np.percentile(img2, [1, 99])
    grey = np.clip((img2 - lo) / (hi - lo if hi > lo else 1.0), 0, 1) * 255
    sy, sx = (spacing[-2], spacing[-1]) if spacing is not None else (1.0, 1.0)
    h_mm, w_mm = img2.shape[0] * sy, img2.shape[1] * sx
    scale = max_side / max(h_mm, w_mm)
    h, w = max(1, round(h_mm * scale)), max(1, round(w_mm * scale))
    # Nearest-pixel display grid (numpy only: Pillow/scipy imports cost more than the job itself).
    rows = np.minimum((np.arange(h) + 0.5) * img2.shape[0] / h, img2.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(w) + 0.5) * img2.shape[1] / w, img2.shape[1] - 1).astype(int)
    g = np.rint(grey[np.ix_(rows, cols)]).astype(np.uint8)
    m = (np.asarray(m2) != 0)[np.ix_(rows, cols)]
    edge = m & ~_erode(m)
    rgb = np.repeat(g[..., None], 3, axis=2)
    rgb[edge] = CONTOUR_RGB
    return rgb


def _erode(m: np.ndarray) -> np.ndarray:
    """4-neighbour binary erosion, outside the image counting as background (numpy only:
    scipy.ndimage costs ~1 s of import per job)."""
    p = np.pad(m, 1, constant_values=False)
    return p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]


def overlay_png(image: np.ndarray, mask: np.ndarray, path, spacing=None, max_side: int = 256) -> None:
    import SimpleITK as sitk

    from .io import atomic_path

    rgb = sitk.GetImageFromArray(overlay_rgb(image, mask, spacing, max_side), isVector=True)
    with atomic_path(path) as tmp:
        # ITK picks the writer by extension, so write a .png beside the temporary file and swap
        sitk.WriteImage(rgb, f"{tmp}.png")
        os.replace(f"{tmp}.png", tmp)


# ---------------------------------------------------------------------------------------------
# study-level table and gallery

COLUMNS = ["patient_id", "modality", "view", "dimension", "size", "spacing", "raw_spacing", "spacing_source",
           "intensity_min", "intensity_p1", "intensity_p99", "intensity_max", "raw_min", "raw_max", "roi_unit"]


def qc_row(prep_dir, base_dir) -> dict:
    """Flatten one image folder's qc.json; `png` is relative to `base_dir`."""
    prep_dir = Path(prep_dir)
    rec = json.loads((prep_dir / "qc.json").read_text())
    fmt = lambda v: "x".join(f"{x:.6g}" for x in v) if v else ""  # noqa: E731
    row = {"patient_id": prep_dir.parent.name, "modality": rec["modality"], "view": rec["view"],
           "dimension": rec["dimension"], "size": fmt(rec["size"]), "spacing": fmt(rec["spacing"]),
           "raw_spacing": fmt(rec["raw_spacing"]), "spacing_source": rec["spacing_source"],
           "intensity_min": rec["intensity"]["min"], "intensity_p1": rec["intensity"]["p1"],
           "intensity_p99": rec["intensity"]["p99"], "intensity_max": rec["intensity"]["max"],
           "raw_min": rec["raw_range"][0], "raw_max": rec["raw_range"][1], "roi_unit": rec["roi_unit"]}
    for r in sorted(rec["roi_voxels"]):
        row[f"roi_voxels_{r}"] = rec["roi_voxels"][r]
        row[f"roi_mm_{r}"] = rec["roi_mm"][r]
    row["n_warnings"] = len(rec["warnings"])
    row["warnings"] = " | ".join(rec["warnings"])
    row["steps"] = "; ".join(rec["steps"])
    row["png"] = os.path.relpath(prep_dir / rec["png"], base_dir)
    return row


def collect(prep_dirs, base_dir):
    """The QC table: one row per preprocessed image, sorted by patient, modality, view (the
    markers of images whose patient validate excluded are left out)."""
    import pandas as pd

    df = pd.DataFrame([qc_row(d, base_dir) for d in computed(prep_dirs)])
    if df.empty:
        return pd.DataFrame(columns=COLUMNS + ["n_warnings", "warnings", "steps", "png"])
    roi = sorted(c for c in df.columns if c.startswith("roi_voxels_") or c.startswith("roi_mm_"))
    df = df[[c for c in COLUMNS if c in df.columns] + roi + ["n_warnings", "warnings", "steps", "png"]]
    return df.sort_values(["patient_id", "modality", "view"], kind="stable").reset_index(drop=True)


def gallery_html(qc_table, base_dir, max_per_view: int | None = 20) -> str:
    """HTML fragment: one section per modality/view, a thumbnail per image (PNG embedded as base64)
    captioned with patient, ROI size and warnings; images with warnings come first, outlined red.

    `qc_table` is the DataFrame from `collect` or the path of its CSV; `png` paths are relative
    to `base_dir`. At most `max_per_view` images per view (None: all; each is ~20 kB, so the
    demo's 1,080 would add ~25 MB to a report); the section says how many are left out.
    """
    import pandas as pd

    if not isinstance(qc_table, pd.DataFrame):
        qc_table = pd.read_csv(qc_table, dtype={"patient_id": str}, keep_default_na=False)
    base_dir = Path(base_dir)
    esc = html.escape
    out = ['<div class="qc-gallery">',
           "<style>.qc-gallery figure{display:inline-block;margin:4px;vertical-align:top;width:180px;"
           "font:11px sans-serif}.qc-gallery img{width:176px;border:2px solid #ddd}"
           ".qc-gallery figure.warn img{border-color:#d33}.qc-gallery figcaption{word-wrap:break-word}</style>"]
    n_warn = int((pd.to_numeric(qc_table.get("n_warnings", 0)) > 0).sum()) if len(qc_table) else 0
    out.append(f"<p>{len(qc_table)} images, {n_warn} with warnings. Red: the primary rater's ROI outline on "
               "the preprocessed image (3D: the slice of largest ROI area).</p>")
    for (mod, view), grp in qc_table.groupby(["modality", "view"], sort=True):
        grp = grp.assign(has_warning=pd.to_numeric(grp["n_warnings"]) > 0).sort_values(["has_warning", "patient_id"],
                                                                             ascending=[False, True], kind="stable")
        shown = grp if max_per_view is None else grp.head(max_per_view)
        more = f", {len(grp) - len(shown)} more in the QC table" if len(shown) < len(grp) else ""
        out.append(f"<h4>{esc(str(mod))} {esc(str(view))} ({len(grp)} images{more})</h4>")
        roi_cols = sorted(c for c in grp.columns if c.startswith("roi_mm_"))
        for r in shown.itertuples(index=False):
            rr = r._asdict()
            data = base64.b64encode((base_dir / rr["png"]).read_bytes()).decode("ascii")
            sizes = ", ".join(f"{c[len('roi_mm_'):]} {float(rr[c]):.0f} {rr['roi_unit'].replace('mm', 'mm')}"
                              for c in roi_cols if str(rr[c]) not in ("", "nan")) or "no manual mask"
            warn = f"<br><b>{esc(str(rr['warnings']))}</b>" if rr["has_warning"] else ""
            title = esc(f"{rr['patient_id']} {mod} {view}: size {rr['size']}, spacing {rr['spacing']} mm")
            out.append(f'<figure class="{"warn" if rr["has_warning"] else "ok"}"><img alt="{title}" title="{title}" '
                       f'src="data:image/png;base64,{data}"><figcaption>{esc(str(rr["patient_id"]))}: '
                       f"{esc(sizes)}{warn}</figcaption></figure>")
    out.append("</div>")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """`python -m axilla.qc`: gather every preprocessed image's QC record into one table."""
    import argparse

    from .io import setup_logging, write_csv

    ap = argparse.ArgumentParser(prog="python -m axilla.qc", description=main.__doc__)
    ap.add_argument("--out", required=True, help="QC table (CSV)")
    ap.add_argument("--base", required=True, help="folder the PNG paths are relative to (results/<study>)")
    ap.add_argument("--log")
    ap.add_argument("prep_dirs", nargs="+")
    a = ap.parse_args(argv)
    setup_logging(a.log)
    table = collect(a.prep_dirs, a.base)
    write_csv(table, a.out)
    log.info("QC table: %d images, %d with warnings", len(table), int((table.n_warnings > 0).sum()))


if __name__ == "__main__":
    main()
