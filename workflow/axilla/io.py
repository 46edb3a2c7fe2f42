"""File I/O at the edges: tables, images, atomic writes, logging for rule scripts."""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pandas costs 0.5 s of import; per-image jobs do without it
    import pandas as pd

log = logging.getLogger("axilla")


def _remove_stale_temporaries(path: Path, directory: bool, suffix: str = ".tmp") -> None:
    """A SIGKILL-ed job cannot clean up its temporary sibling; its rerun (the only job that writes
    `path`) removes it, so a resumed study leaves nothing behind that a clean run would not."""
    for old in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if directory and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif not directory and old.is_file() and old.name.endswith(suffix):
            old.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary sibling of `path`; move it into place only if the block succeeds.

    A job killed mid-write therefore never leaves a complete-looking output behind. A temporary
    file's name ends in `suffix`: writers that pick the format by extension (SimpleITK) need ".nii.gz".
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path, directory, suffix)
    tmp = None
    try:
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
            os.close(fd)
            tmp = Path(name)
        yield tmp
        # mkstemp/mkdtemp create owner-only files; results are meant to be shared.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None and tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def read_table(path: str | os.PathLike) -> "pd.DataFrame":
    """Read CSV, TSV or XLSX by extension; identifiers stay strings."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xls"}:
        return pd.read_excel(path, dtype={"patient_id": str})
    sep = "\t" if suffix in {".tsv", ".tab"} else ","
    return pd.read_csv(path, sep=sep, dtype={"patient_id": str})


def write_csv(df: "pd.DataFrame", path: str | os.PathLike, **kwargs) -> None:
    """Write a CSV atomically with a fixed float format, so reruns give identical bytes."""
    kwargs.setdefault("index", False)
    kwargs.setdefault("float_format", "%.10g")
    with atomic_path(path) as tmp:
        df.to_csv(tmp, lineterminator="\n", **kwargs)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (provenance of inputs and weights), read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model, path: str | os.PathLike) -> None:
    """Pickle a fitted model (selection, classifier) atomically."""
    import pickle

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(model, fh, protocol=5)


def load_model(path: str | os.PathLike):
    import pickle

    with open(path, "rb") as fh:
        return pickle.load(fh)


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
# ITU-R BT.601 luma, the weights Pillow's RGB -> "L" conversion uses; applied in floating point
# so no rounding is added. Alpha is ignored (exports put annotations in colour, not in alpha).
LUMA = (0.299, 0.587, 0.114)
SPACING_KEY = "axilla:spacing_source"  # metadata key recording where a 2D spacing came from
COLOUR_KEY = "axilla:colour_fraction"  # metadata key: fraction of coloured pixels in an RGB file
# Channels of a pixel that differ by more than this fraction of the value range (8 of 255) make it a
# colour pixel; lossy (JPEG) grey exports keep their chroma noise below it.
COLOUR_TOLERANCE = 8 / 255


def is_dicom_file(path: str | os.PathLike) -> bool:
    """A DICOM Part 10 file carries 'DICM' after a 128-byte preamble, whatever its name."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def to_grey(image):
    """Multi-component (RGB/RGBA) image -> float32 luminance by BT.601; scalar images pass through.

    An RGB export of a grey image (R = G = B) keeps its values exactly.
    """
    import numpy as np
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() == 1:
        return image
    arr = sitk.GetArrayFromImage(image).astype(np.float64)  # (..., channels)
    rgb = arr[..., :3]
    if arr.shape[-1] < 3:  # grey + alpha
        grey = arr[..., 0]
    elif np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        grey = rgb[..., 0]
    else:
        grey = rgb @ np.asarray(LUMA)
    out = sitk.GetImageFromArray(grey.astype(np.float32))
    out.CopyInformation(image)
    return out


def colour_map(image):
    """Pixels of an RGB(A) image whose R, G and B differ by more than `COLOUR_TOLERANCE` of the
    value range: colour drawn over a grey image (callipers, Doppler boxes, annotation text). None
    for a scalar or grey + alpha image."""
    import numpy as np
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() < 3:
        return None
    rgb = sitk.GetArrayViewFromImage(image)[..., :3]
    full = np.iinfo(rgb.dtype).max if np.issubdtype(rgb.dtype, np.integer) else max(float(rgb.max()), 1.0)
    spread = rgb.max(axis=-1).astype(np.float64) - rgb.min(axis=-1)
    return spread > COLOUR_TOLERANCE * full


def colour_fraction(image) -> float:
    """Fraction of coloured pixels read_image found in the file (0 for a grey file)."""
    return float(image.GetMetaData(COLOUR_KEY)) if image.HasMetaDataKey(COLOUR_KEY) else 0.0


def colour_warning(fraction: float) -> str:
    """The warning about an image's colour overlays, for the log, the qc table and qc.json."""
    return (f"{100 * fraction:.2g} % of the pixels are coloured (overlays such as callipers, Doppler boxes or text; "
            "converted to grey by BT.601 luma like the rest)")


def colour_roi_warning(rater: str, fraction: float) -> str:
    """The warning about colour pixels inside a rater's ROI (their share of the ROI)."""
    return (f"rater {rater}: {100 * fraction:.2g} % of the ROI's pixels are coloured: check the qc overlay and export "
            "the image without overlays if they cover the lesion")


def _raster_dpi_spacing(path: Path) -> tuple[float, float] | None:
    """Pixel spacing in mm from the file's resolution, when it is stated in physical units."""
    from PIL import Image

    with Image.open(path) as im:
        dpi = im.info.get("dpi")  # Pillow sets it only for inch/cm units (PNG pHYs in metres, TIFF, JFIF)
    if not dpi or min(float(d) for d in dpi) <= 0:
        return None
    return (25.4 / float(dpi[0]), 25.4 / float(dpi[1]))


def _dicom_2d_spacing(ds) -> tuple[float, float] | None:
    """Row/column spacing for 2D DICOM that GDCM leaves at 1: detector pitch (MG) or US regions."""
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):  # [row, column] = [y, x] in mm
        v = ds.get(tag)
        if v is not None and len(v) == 2:
            return (float(v[1]), float(v[0]))
    regions = ds.get("SequenceOfUltrasoundRegions")
    if regions:
        r = regions[0]
        # Units 3 = cm; PhysicalDelta in cm per pixel.
        if r.get("PhysicalUnitsXDirection") == 3 and r.get("PhysicalUnitsYDirection") == 3:
            return (10 * float(r.PhysicalDeltaX), 10 * float(r.PhysicalDeltaY))
    return None


def dicom_frames(path: str | os.PathLike) -> int:
    """Number of frames of a single DICOM file (1 when it states none)."""
    import pydicom

    return int(pydicom.dcmread(str(path), stop_before_pixels=True).get("NumberOfFrames", 1) or 1)


def _one_frame(image, frame: int | None, path: Path):
    """Frame `frame` (0 = first) of a multi-frame file (a US cine loop), as a 2D image; a single
    frame whatever `frame`'s value is 0; a multi-frame file without `frame` stays 3D."""
    from .errors import InputError, Problem

    if image.GetDimension() != 3:
        return image
    n = image.GetSize()[2]
    if frame is not None and not 0 <= frame < n:
        raise InputError(Problem(str(path), f"frame {frame} is out of range: the file has {n} frame(s), 0 to "
                                            f"{n - 1}: change preprocess.<MOD>.frame"))
    if frame is None and n > 1:
        return image
    return image[:, :, frame or 0]


def _monochrome2(image, ds):
    """Pixels in MONOCHROME2 sense (high = bright = dense), the file's display intent.

    GDCM (SimpleITK 2.5) already returns MONOCHROME1 inverted over the stored range: value' =
    max + min - value, where max and min bound the stored pixel format (2^BitsStored - 1 and 0
    unsigned), so one mapping serves a whole cohort rather than one per image. A MONOCHROME2 file
    whose PresentationLUTShape is INVERSE is inverted here the same way, before the rescale. INVERSE
    with MONOCHROME1 is the pair the DX/MG IODs require for one inversion, not a second one.
    """
    import numpy as np
    import SimpleITK as sitk

    if (ds.get("PhotometricInterpretation") != "MONOCHROME2" or ds.get("PresentationLUTShape") != "INVERSE"
            or image.GetNumberOfComponentsPerPixel() != 1):
        return image
    bits = int(ds.get("BitsStored", 16))
    span = -1 if ds.get("PixelRepresentation", 0) else 2 ** bits - 1  # max + min of the stored format
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    arr = sitk.GetArrayViewFromImage(image)
    # GDCM returned slope * v + intercept; the inverted stored value is span - v.
    inverted = slope * span + 2 * intercept - arr.astype(np.float64)
    out = sitk.GetImageFromArray(inverted.astype(arr.dtype))
    out.CopyInformation(image)
    return out


def _read_pixels(path: Path, frame: int | None):
    """The file's pixels as SimpleITK reads them (colour kept) and the 2D spacing the file states."""
    import SimpleITK as sitk

    from .errors import InputError, Problem

    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise InputError(Problem(str(path), "folder holds no DICOM series"))
        if len(series) > 1:
            raise InputError(Problem(str(path), f"folder holds {len(series)} DICOM series; give one per folder"))
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
        return reader.Execute(), None
    if path.suffix.lower() in RASTER_SUFFIXES:
        return sitk.ReadImage(str(path)), _raster_dpi_spacing(path)
    if is_dicom_file(path):
        import pydicom  # 0.2 s of import: only for DICOM files

        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        image = _monochrome2(_one_frame(sitk.ReadImage(str(path), imageIO="GDCMImageIO"), frame, path), ds)
        return image, (_dicom_2d_spacing(ds) if image.GetDimension() == 2 else None)
    return sitk.ReadImage(str(path)), None


def colour_pixels(path: str | os.PathLike, frame: int | None = None):
    """`colour_map` of a file's pixels as read_image reads them (None for a grey file)."""
    return colour_map(_read_pixels(Path(path), frame)[0])


def read_image(path: str | os.PathLike, *, pixel_spacing=None, fallback_spacing=None, frame: int | None = None):
    """Read any supported image as a scalar SimpleITK image without its metadata dictionary.

    Formats: a folder holding one DICOM series; a single DICOM file (MG/US, returned 2D when it has
    one frame, or frame `frame` (0 = first) of a multi-frame file such as a US cine loop; 3D
    otherwise); NIfTI, NRRD, MHA/MHD; PNG/JPEG/TIFF/BMP. Colour is converted to grey by BT.601 luma
    (`LUMA`); the fraction of coloured pixels (overlays) is recorded under `COLOUR_KEY`. Single
    DICOM files come in MONOCHROME2 sense (`_monochrome2`). DICOM header fields (names, dates,
    accession numbers) are dropped so none can reach an output file.

    2D spacing, in order: `pixel_spacing` (a per-row value: it is the most specific), the file's own
    (DICOM PixelSpacing / ImagerPixelSpacing / US regions; raster resolution in physical units),
    then `fallback_spacing` (per-modality config). A 2D file with none of them is an error rather
    than a silent 1 mm. The source is recorded under the metadata key `SPACING_KEY`.
    """
    import SimpleITK as sitk

    path = Path(path)
    image, file_spacing = _read_pixels(path, frame)
    colour = colour_map(image)
    image = to_grey(image)
    # A fresh image from the pixels: geometry kept, every header field (and PHI) dropped.
    clean = sitk.Image(image)
    for key in clean.GetMetaDataKeys():
        clean.EraseMetaData(key)
    if colour is not None:
        clean.SetMetaData(COLOUR_KEY, repr(float(colour.mean())))
    needs_spacing = path.suffix.lower() in RASTER_SUFFIXES or is_dicom_file(path) or pixel_spacing is not None
    if clean.GetDimension() == 2 and (needs_spacing or file_spacing is not None):
        _set_2d_spacing(clean, path, pixel_spacing, file_spacing, fallback_spacing)
    elif clean.GetDimension() >= 2:
        clean.SetMetaData(SPACING_KEY, "file")
    return clean


def _set_2d_spacing(image, path: Path, pixel_spacing, file_spacing, fallback_spacing) -> None:
    """The first of row, file and config spacing, recorded under `SPACING_KEY`; none is an error."""
    from .errors import InputError, Problem

    for source, value in (("row", pixel_spacing), ("file", file_spacing), ("config", fallback_spacing)):
        if value is not None:
            image.SetSpacing(tuple(float(v) for v in value))
            image.SetMetaData(SPACING_KEY, source)
            return
    raise InputError(Problem(str(path), "no pixel spacing: the file states none; give it in the manifest's "
                                        "pixel_spacing column or the config's preprocess.<MOD>.pixel_spacing"))


def parse_pixel_spacing(text: str) -> tuple[float, float]:
    """A per-row 2D pixel spacing in mm: "x,y" (or "x;y"); one number means square pixels.

    Raises ValueError unless it gives one or two positive finite numbers.
    """
    import math

    parts = [v.strip() for v in str(text).replace(";", ",").split(",")]
    try:
        values = [float(v) for v in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"pixel spacing '{text}' is not 'x,y' in mm (two positive numbers, or one for square "
                         "pixels)")
    return values[0], values[1]


def spacing_source(image) -> str:
    """Where read_image took the spacing from: 'row', 'file' or 'config'."""
    return image.GetMetaData(SPACING_KEY) if image.HasMetaDataKey(SPACING_KEY) else "file"


def write_image(image, path: str | os.PathLike) -> None:
    import SimpleITK as sitk

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.GetMetaDataKeys():  # headers (NRRD writes every key) must never carry input metadata
        image = sitk.Image(image)
        for key in image.GetMetaDataKeys():
            image.EraseMetaData(key)
    sitk.WriteImage(image, str(path), useCompression=True)


def setup_logging(logfile: str | os.PathLike | None) -> logging.Logger:
    """Send the package's log records to the rule's log file (and stderr)."""
    console = logging.StreamHandler()
    # Thousands of per-image jobs share one terminal: only warnings go there, everything to the log.
    console.setLevel(logging.WARNING if logfile else logging.INFO)
    handlers: list[logging.Handler] = [console]
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def _excepthook(exc_type, exc, tb):
        # Failures land in the rule's log too, which is where Snakemake's error message points.
        from .errors import InputError

        if isinstance(exc, InputError):
            log.error("%s", exc)
        else:
            log.error("failed", exc_info=(exc_type, exc, tb))

    sys.excepthook = _excepthook
    _exit_on_sigterm()
    if logfile and _log_usage not in _AT_EXIT:
        _AT_EXIT.append(_log_usage)
        atexit.register(_log_usage)
    return log


USAGE_PREFIX = "job usage:"
_AT_EXIT: list = []  # registered once per process, however often logging is set up


def _log_usage() -> None:
    """The job's exact CPU time and peak memory, as its last log line. Snakemake's benchmark files
    poll the process every 0.5 s, then every 30 s, so they miss the end of every job: this is what
    `make bench-scaling` sums (axilla.scaling.job_usage)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    # ru_maxrss is in KiB on Linux
    log.info("%s cpu_s=%.3f max_rss_mb=%.0f", USAGE_PREFIX, cpu, max(own.ru_maxrss, kids.ru_maxrss) / 1024)


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so a job stopped by Ctrl-C, `scancel` or a SLURM time limit
    unwinds its `atomic_path` blocks and leaves no temporary behind (Python's default dies at once)."""
    import signal
    import threading

    def _stop(signum, frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():  # signal.signal needs the main thread
        signal.signal(signal.SIGTERM, _stop)
