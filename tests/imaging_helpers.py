"""Builders of small imaging inputs for the io / preprocess / qc / privacy tests (no binaries committed)."""

from __future__ import annotations

import numpy as np


def write_dicom_series(folder, volume: np.ndarray, spacing_xy=(0.75, 0.5), slice_step=2.5,
                       origin=(-10.5, 20.25, 5.0), **tags) -> None:
    """One MR series, one file per slice (axial, identity orientation), uint16 pixels."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import MRImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    for k, sl in enumerate(volume):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"s{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality = "MR"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * slice_step]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing_xy[1], spacing_xy[0]]  # row spacing (y), column spacing (x)
        ds.SliceThickness = slice_step
        _save_with_pixels(ds, sl, tags, folder / f"s{k:03d}.dcm")


def write_dicom_2d(path, image: np.ndarray, modality="MG", **tags) -> None:
    """A single-frame 2D DICOM (secondary capture), spacing only from the given tags."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    _save_with_pixels(ds, image, tags, path)


def _save_with_pixels(ds, pixels: np.ndarray, tags: dict, path) -> None:
    """Unsigned 16-bit greyscale pixel data, the caller's extra tags, then write the file."""
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(pixels.astype(np.uint16)).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def blob_volume(shape=(12, 40, 48), centre=(6, 20, 22), radius=6, seed=0):
    """A bright ellipsoid lesion in a textured body that leaves air at the edges; returns (image, mask)."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape)
    body = ((yy - shape[1] / 2) / (0.42 * shape[1])) ** 2 + ((xx - shape[2] / 2) / (0.42 * shape[2])) ** 2 <= 1
    img = np.where(body, 400.0, 20.0) + rng.normal(0, 5, shape)
    d = np.sqrt(((zz - centre[0]) / max(1, radius / 2)) ** 2 + ((yy - centre[1]) / radius) ** 2
                + ((xx - centre[2]) / radius) ** 2)
    mask = (d <= 1).astype(np.uint8)
    img[mask > 0] += 300
    return np.clip(img, 0, None), mask
