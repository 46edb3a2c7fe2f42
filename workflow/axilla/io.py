"""File I/O at the edges: tables, images, atomic writes, logging for rule scripts."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; move it into place only if the block succeeds.

    A job killed mid-write therefore never leaves a complete-looking output behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        # mkstemp/mkdtemp create owner-only files; results are meant to be shared.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
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


def read_image(path: str | os.PathLike):
    """Read an image with SimpleITK: NIfTI, NRRD, MHA, 2D raster formats, or a DICOM series folder."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise ValueError(f"{path}: folder holds no DICOM series")
        if len(series) > 1:
            raise ValueError(f"{path}: folder holds {len(series)} DICOM series; give one per folder")
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
        return reader.Execute()
    return sitk.ReadImage(str(path))


def image_info(path: str | os.PathLike) -> dict:
    """Geometry from the header alone (no pixel data), for validation before compute."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        img = read_image(path)
        return dict(size=img.GetSize(), spacing=img.GetSpacing(), origin=img.GetOrigin(),
                    direction=img.GetDirection(), dimension=img.GetDimension())
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return dict(size=reader.GetSize(), spacing=reader.GetSpacing(), origin=reader.GetOrigin(),
                direction=reader.GetDirection(), dimension=reader.GetDimension())


def write_image(image, path: str | os.PathLike) -> None:
    import SimpleITK as sitk

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    return log
