"""Annotation and image formats as users have them, each built in the test by its own tool (slicerio,
highdicom, pydicom) and read by axilla to the same ROI as its NIfTI equivalent: 3D Slicer
segmentations (cropped, overlapping layers), DICOM SEG (2D fractional, 3D binary), RTSTRUCT
contours; MONOCHROME1 / INVERSE mammograms; multi-frame US; colour overlays. Validation reports
each format problem at its manifest row before any compute."""

import warnings

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image

from axilla.errors import InputError, RoiError
from axilla.io import colour_fraction, read_image
from axilla.preprocess import Grid, preprocess_image, read_roi
from axilla.settings import section
from axilla.validate import check_files

from imaging_helpers import write_dicom_2d, write_dicom_series

PATIENT = dict(PatientID="P1", PatientName="Doe^Jane", PatientBirthDate="", PatientSex="F", StudyDate="20200101",
               StudyTime="000000", AccessionNumber="1", ReferringPhysicianName="", StudyID="1", SeriesNumber=1,
               Manufacturer="test")
SHAPE = (6, 20, 24)  # z, y, x


@pytest.fixture
def series(tmp_path):
    """An MR series (pydicom) and its image as axilla reads it."""
    vol = np.random.default_rng(0).integers(0, 500, SHAPE)
    write_dicom_series(tmp_path / "mr", vol, **PATIENT)
    return tmp_path / "mr", read_image(tmp_path / "mr")


def _lesion() -> np.ndarray:
    m = np.zeros(SHAPE, bool)
    m[2:4, 5:10, 6:12] = True
    m[3, 7, 8] = False  # not a plain box
    return m


def _nifti(arr: np.ndarray, image, path) -> str:
    """The NIfTI equivalent: the array on the image's grid."""
    m = sitk.GetImageFromArray(arr.astype(np.uint8))
    m.CopyInformation(image)
    sitk.WriteImage(m, str(path))
    return str(path)


def _same_roi(path, reference, image, label=None, image_path=None):
    """axilla's ROI of `path` equals its ROI of the NIfTI equivalent, voxels and geometry."""
    got = read_roi(str(path), image, label, str(image_path) if image_path else None)
    want = read_roi(str(reference), image, None)
    for g in (Grid.of(want), Grid.of(image)):  # NIfTI keeps float32 geometry
        assert g.size == Grid.of(got).size
        np.testing.assert_allclose(np.r_[g.spacing, g.origin, g.direction],
                                   np.r_[got.GetSpacing(), got.GetOrigin(), got.GetDirection()], atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(want))
    assert sitk.GetArrayFromImage(got).any()


# --- 3D Slicer .seg.nrrd ---------------------------------------------------------------------------

def _slicer_file(path, image, masks: dict, crop=((1, 5), (3, 14), (4, 16))):
    """A .seg.nrrd as Slicer saves one: cropped to `crop` (z, y, x ranges) of the image grid, one
    segment per mask (overlapping ones in another layer)."""
    import slicerio

    (z0, z1), (y0, y1), (x0, x1) = crop
    matrix = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = matrix
    ijk_to_lps[:3, 3] = image.TransformIndexToPhysicalPoint((x0, y0, z0))
    seg = slicerio.create_segmentation((x1 - x0, y1 - y0, z1 - z0), ijk_to_lps)
    for name, m in masks.items():
        slicerio.add_segment(seg, m[z0:z1, y0:y1, x0:x1].transpose(2, 1, 0), {"name": name})
    slicerio.write_segmentation(str(path), seg)
    return path


def test_slicer_segment_by_name_from_cropped_overlapping_layers(series, tmp_path):
    import slicerio

    _, image = series
    lesion = _lesion()
    node = np.roll(lesion, 2, axis=2)  # overlaps the lesion: Slicer puts it in a second layer
    path = _slicer_file(tmp_path / "s.seg.nrrd", image, {"lesion": lesion, "node": node})
    stored = slicerio.read_segmentation(str(path))
    assert stored["voxels"].shape == (2, 12, 11, 4)  # two layers, cropped extent
    _same_roi(path, _nifti(lesion, image, tmp_path / "lesion.nii.gz"), image, "lesion")
    _same_roi(path, _nifti(node, image, tmp_path / "node.nii.gz"), image, "node")
    with pytest.raises(RoiError, match=r"holds 2 segments \(1 'lesion', 1 'node'\): name the ROI's segment in "
                                       r"preprocess.<MOD>.roi_label"):
        read_roi(str(path), image, None)
    with pytest.raises(RoiError, match=r"has no segment named 'tumour' \(segments present: 1 'lesion', 1 'node'\)"):
        read_roi(str(path), image, "tumour")


def test_slicer_file_with_one_segment_needs_no_label(series, tmp_path):
    _, image = series
    path = _slicer_file(tmp_path / "one.seg.nrrd", image, {"Segment_1": _lesion()})
    _same_roi(path, _nifti(_lesion(), image, tmp_path / "l.nii.gz"), image, None)


def test_slicer_segment_of_another_image_is_refused(series, tmp_path):
    _, image = series
    other = sitk.Image(image)
    other.SetOrigin(np.asarray(image.GetOrigin()) + (40, 0, 0))  # 53 voxels to the side
    path = _slicer_file(tmp_path / "far.seg.nrrd", other, {"lesion": _lesion()})
    with pytest.raises(RoiError, match="outside image .*: it belongs to another image"):
        read_roi(str(path), image, None)


def test_slicer_segmentation_of_a_2d_image_is_placed_by_pixel(tmp_path):
    """Slicer gives a PNG 1 mm pixels; axilla's spacing here is 0.2 mm (the manifest's): only the
    crop offset, in Slicer's pixels, places the segment."""
    import slicerio

    Image.fromarray(np.random.default_rng(1).integers(0, 255, (30, 40), dtype=np.uint8)).save(tmp_path / "us.png")
    image = read_image(tmp_path / "us.png", pixel_spacing=(0.2, 0.2))
    full = np.zeros((30, 40), bool)
    full[12:20, 9:25] = True
    seg = slicerio.create_segmentation((20, 10, 1), np.array([[1, 0, 0, 7], [0, 1, 0, 11], [0, 0, 1, 0], [0, 0, 0, 1.]]))
    slicerio.add_segment(seg, full[11:21, 7:27].T[..., None], {"name": "lesion"})
    slicerio.write_segmentation(str(tmp_path / "us.seg.nrrd"), seg)
    _same_roi(tmp_path / "us.seg.nrrd", _nifti(full, image, tmp_path / "us_mask.nii.gz"), image, "lesion")


# --- DICOM SEG -------------------------------------------------------------------------------------

def _description(number: int, label: str):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.seg.SegmentDescription(segment_number=number, segment_label=label,
                                     segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
                                     segmented_property_type=codes.SCT.Neoplasm,
                                     algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)


def _seg_file(path, sources, pixels, labels, kind="BINARY"):
    """A DICOM SEG made by highdicom from the source datasets (frames x rows x columns x segments)."""
    import highdicom as hd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues[kind],
            segment_descriptions=[_description(i + 1, name) for i, name in enumerate(labels)],
            series_instance_uid=hd.UID(), series_number=2, sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer="test", manufacturer_model_name="test", software_versions="0", device_serial_number="0")
    seg.save_as(str(path))
    return path


def _sources(folder):
    return [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"), key=lambda p: p.name)]


def test_dicom_seg_3d_segment_by_label_or_number(series, tmp_path):
    folder, image = series
    lesion, node = _lesion(), np.roll(_lesion(), 8, axis=2)
    path = _seg_file(tmp_path / "seg.dcm", _sources(folder), np.stack([lesion, node], -1).astype(np.uint8),
                     ["lesion", "node"])
    _same_roi(path, _nifti(lesion, image, tmp_path / "lesion.nii.gz"), image, "lesion", folder)
    _same_roi(path, _nifti(node, image, tmp_path / "node.nii.gz"), image, 2, folder)
    # The geometry alone places it on the image converted to NIfTI (no UIDs to compare).
    sitk.WriteImage(image, str(tmp_path / "image.nii.gz"))
    converted = read_image(tmp_path / "image.nii.gz")
    _same_roi(path, _nifti(lesion, converted, tmp_path / "l2.nii.gz"), converted, "lesion", tmp_path / "image.nii.gz")
    with pytest.raises(RoiError, match=r"has no segment named 'mass' \(segments present: 1 'lesion', 2 'node'\)"):
        read_roi(str(path), image, "mass", str(folder))


def test_dicom_seg_of_another_series_is_refused(series, tmp_path):
    folder, image = series
    write_dicom_series(tmp_path / "other", np.zeros(SHAPE), **PATIENT)  # same grid, another series
    path = _seg_file(tmp_path / "seg.dcm", _sources(tmp_path / "other"), _lesion()[..., None].astype(np.uint8),
                     ["lesion"])
    with pytest.raises(RoiError, match="is a DICOM SEG of series .* not of image .*export the SEG from this image"):
        read_roi(str(path), image, None, str(folder))


def test_dicom_seg_2d_fractional_frame_of_a_mammogram(tmp_path):
    uid = pydicom.uid.generate_uid
    write_dicom_2d(tmp_path / "mg.dcm", np.random.default_rng(2).integers(0, 900, (30, 40)), ImagerPixelSpacing=[0.1, 0.1],
                   PatientOrientation=["A", "R"], StudyInstanceUID=uid(), SeriesInstanceUID=uid(), InstanceNumber=1,
                   **PATIENT)
    image = read_image(tmp_path / "mg.dcm")
    fraction = np.zeros((1, 30, 40), np.float32)
    fraction[0, 5:15, 6:20] = 0.8
    fraction[0, 5:8, 6:10] = 0.3  # below one half: outside the ROI
    path = _seg_file(tmp_path / "seg.dcm", [pydicom.dcmread(tmp_path / "mg.dcm")], fraction, ["mass"], "FRACTIONAL")
    _same_roi(path, _nifti(fraction[0] >= 0.5, image, tmp_path / "m.nii.gz"), image, "mass", tmp_path / "mg.dcm")
    write_dicom_2d(tmp_path / "other.dcm", np.zeros((30, 40)), ImagerPixelSpacing=[0.1, 0.1], **PATIENT)
    with pytest.raises(RoiError, match="does not reference image .*other.dcm"):
        read_roi(str(path), image, None, str(tmp_path / "other.dcm"))


# --- RTSTRUCT --------------------------------------------------------------------------------------

def _rtstruct(path, folder, rois: dict[str, list[tuple[int, np.ndarray]]], frame_uid=None):
    """An RTSTRUCT (pydicom): per ROI name, closed planar contours as (slice, (n, 2) x/y pixel indices)
    of the series in `folder`, converted to patient coordinates by the slices' own geometry."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid

    src = {int(d.InstanceNumber) - 1: d for d in _sources(folder)}
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = RTStructureSetStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RTStructureSetStorage, meta.MediaStorageSOPInstanceUID, "RTSTRUCT"
    frame = frame_uid or src[0].FrameOfReferenceUID
    ds.StructureSetROISequence, ds.ROIContourSequence = Sequence(), Sequence()
    for number, (name, contours) in enumerate(rois.items(), start=1):
        item = Dataset()
        item.ROINumber, item.ROIName, item.ReferencedFrameOfReferenceUID = number, name, frame
        ds.StructureSetROISequence.append(item)
        rc = Dataset()
        rc.ReferencedROINumber, rc.ContourSequence = number, Sequence()
        for k, xy in contours:
            s = src[k]
            c = Dataset()
            c.ContourGeometricType, c.NumberOfContourPoints = "CLOSED_PLANAR", len(xy)
            # Patient position of pixel (x, y): origin + x * column spacing along the row direction + ...
            pos, (dy, dx) = np.asarray(s.ImagePositionPatient, float), np.asarray(s.PixelSpacing, float)
            row_dir, col_dir = np.asarray(s.ImageOrientationPatient[:3], float), np.asarray(s.ImageOrientationPatient[3:])
            pts = pos + np.outer(xy[:, 0] * dx, row_dir) + np.outer(xy[:, 1] * dy, col_dir)
            c.ContourData = [f"{v:.6f}" for v in pts.ravel()]
            rc.ContourSequence.append(c)
        ds.ROIContourSequence.append(rc)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _rectangle(x0, x1, y0, y1) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)


def test_rtstruct_rectangles_on_pixel_centres_with_a_hole(series, tmp_path):
    """Vertices on pixel centres: the pixels on the contour belong to the ROI; an inner contour on
    the same slice is a hole. The expected mask is written by hand."""
    folder, image = series
    expected = np.zeros(SHAPE, bool)
    expected[2:4, 5:10, 6:12] = True
    expected[3, 7:9, 8:10] = False
    contours = [(2, _rectangle(6, 11, 5, 9)), (3, _rectangle(6, 11, 5, 9)), (3, _rectangle(8, 9, 7, 8))]
    path = _rtstruct(tmp_path / "rt.dcm", folder, {"skin": [(0, _rectangle(0, 23, 0, 19))], "GTV": contours})
    _same_roi(path, _nifti(expected, image, tmp_path / "gtv.nii.gz"), image, "GTV", folder)
    with pytest.raises(RoiError, match=r"holds 2 ROIs \(1 'skin', 2 'GTV'\): name the ROI's ROI"):
        read_roi(str(path), image, None, str(folder))
    with pytest.raises(RoiError, match=r"has no ROI named 'tumor' \(ROIs present: 1 'skin', 2 'GTV'\)"):
        read_roi(str(path), image, "tumor", str(folder))


def test_rtstruct_polygon_equals_matplotlib_point_in_polygon(series, tmp_path):
    from matplotlib.path import Path as MplPath

    folder, image = series
    poly = np.array([[3.3, 2.6], [17.8, 4.1], [20.2, 15.7], [11.4, 9.2], [4.6, 16.3]])
    yy, xx = np.mgrid[:SHAPE[1], :SHAPE[2]]
    centres = np.c_[xx.ravel(), yy.ravel()]
    shape = MplPath(np.vstack([poly, poly[:1]]), closed=True)
    inside = shape.contains_points(centres)
    assert np.array_equal(inside, shape.contains_points(centres, radius=1e-3)) and np.array_equal(
        inside, shape.contains_points(centres, radius=-1e-3))  # no pixel centre near the outline
    expected = np.zeros(SHAPE, bool)
    expected[4] = inside.reshape(SHAPE[1:])
    path = _rtstruct(tmp_path / "rt.dcm", folder, {"lesion": [(4, poly)]})
    _same_roi(path, _nifti(expected, image, tmp_path / "p.nii.gz"), image, None, folder)


def test_rtstruct_of_another_frame_of_reference_is_refused(series, tmp_path):
    folder, image = series
    path = _rtstruct(tmp_path / "rt.dcm", folder, {"GTV": [(2, _rectangle(6, 11, 5, 9))]},
                     frame_uid=pydicom.uid.generate_uid())
    with pytest.raises(RoiError, match="frame of reference .* not that of image"):
        read_roi(str(path), image, None, str(folder))


def test_preprocessing_writes_the_annotation_roi_as_its_nifti_equivalent(series, tmp_path):
    folder, _ = series
    expected = np.zeros(SHAPE, bool)
    expected[1:5, 4:12, 5:15] = True
    rt = _rtstruct(tmp_path / "rt.dcm", folder, {"GTV": [(k, _rectangle(5, 14, 4, 11)) for k in range(1, 5)]})
    nifti = _nifti(expected, read_image(folder), tmp_path / "gtv.nii.gz")
    settings = section("preprocess.MRI", spacing=[1.5, 1.5, 1.5], roi_label="GTV", min_roi_voxels=5)
    out = {}
    for name, mask in (("rt", rt), ("nifti", nifti)):
        preprocess_image(str(folder), {"A": str(mask)}, "MRI", "T2", settings, str(tmp_path / name))
        out[name] = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / name / "mask-A.nii.gz")))
    np.testing.assert_array_equal(out["rt"], out["nifti"])
    assert out["rt"].sum() > 5


# --- image formats: MONOCHROME1, multi-frame, colour -----------------------------------------------

@pytest.mark.parametrize("tags", [dict(PhotometricInterpretation="MONOCHROME1"),
                                  dict(PresentationLUTShape="INVERSE"),
                                  dict(PhotometricInterpretation="MONOCHROME1", PresentationLUTShape="INVERSE")],
                         ids=["MONOCHROME1", "INVERSE", "MONOCHROME1+INVERSE"])
def test_inverted_mammograms_come_in_monochrome2_sense(tmp_path, tags):
    """Inverted once over the stored range: value' = max + min - value, with max = 2^12 - 1 and
    min = 0 for 12 stored bits (INVERSE with MONOCHROME1 is the IODs' pair for one inversion)."""
    stored = np.random.default_rng(3).integers(0, 4096, (12, 10))
    write_dicom_2d(tmp_path / "mg.dcm", stored, BitsStored=12, HighBit=11, ImagerPixelSpacing=[0.1, 0.1], **tags)
    assert pydicom.dcmread(tmp_path / "mg.dcm").pixel_array.tolist() == stored.tolist()  # raw as written
    got = sitk.GetArrayFromImage(read_image(tmp_path / "mg.dcm"))
    np.testing.assert_array_equal(got, 4095 + 0 - stored)


def test_inverse_presentation_applies_before_the_rescale(tmp_path):
    stored = np.random.default_rng(4).integers(0, 4096, (12, 10))
    write_dicom_2d(tmp_path / "mg.dcm", stored, BitsStored=12, HighBit=11, ImagerPixelSpacing=[0.1, 0.1],
                   PresentationLUTShape="INVERSE", RescaleSlope=2, RescaleIntercept=-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_image(tmp_path / "mg.dcm")), 2 * (4095 - stored) - 5)
    write_dicom_2d(tmp_path / "plain.dcm", stored, ImagerPixelSpacing=[0.1, 0.1])
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_image(tmp_path / "plain.dcm")), stored)


def _cine(path, frames: np.ndarray):
    """A multi-frame US file (pydicom), 0.2 mm rows x 0.3 mm columns."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = UltrasoundMultiFrameImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, "US"
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames.shape[:3]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation, ds.PixelSpacing = 7, 0, [0.2, 0.3]
    ds.PixelData = np.ascontiguousarray(frames.astype(np.uint8)).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_multiframe_us_returns_the_configured_frame_in_2d(tmp_path):
    frames = np.random.default_rng(5).integers(0, 255, (4, 16, 18))
    path = _cine(tmp_path / "cine.dcm", frames)
    image = read_image(path, frame=2)
    assert image.GetDimension() == 2 and image.GetSpacing() == (0.3, 0.2)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), frames[2])
    with pytest.raises(InputError, match=r"frame 4 is out of range: the file has 4 frame\(s\), 0 to 3"):
        read_image(path, frame=4)


def _grey_with_overlay(tmp_path):
    """A grey RGB export with a red calliper cross and a green box corner drawn on it."""
    grey = np.random.default_rng(6).integers(40, 200, (30, 40)).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    rgb[10, 4:9] = rgb[8:13, 6] = [255, 0, 0]  # cross: 9 pixels
    rgb[20:23, 30] = [0, 200, 0]  # 3 pixels
    rgb[2, 2] += np.array([0, 5, 0], np.uint8)  # lossy-compression chroma noise, below the tolerance
    Image.fromarray(rgb).save(tmp_path / "us.png")
    return rgb


def test_colour_overlays_are_counted(tmp_path):
    rgb = _grey_with_overlay(tmp_path)
    image = read_image(tmp_path / "us.png", pixel_spacing=(0.1, 0.1))
    assert colour_fraction(image) == pytest.approx(12 / (30 * 40))
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), rgb.astype(float) @ [0.299, 0.587, 0.114], rtol=1e-6)


# --- validation: every format problem at its manifest row ------------------------------------------

def _check(rows: list[dict], manifest_path, **preprocess):
    """check_files on a manifest of `rows` (modality, view, image, mask), one patient each."""
    df = pd.DataFrame([dict(patient_id=f"P{i}", rater="A", row=i + 1, **r) for i, r in enumerate(rows)])
    settings = {m: section(f"preprocess.{m}", **preprocess.get(m, {})) for m in ("MRI", "US")}
    return check_files(df, str(manifest_path), settings)


def test_validate_reports_each_format_problem_with_what_to_do(series, tmp_path):
    folder, image = series
    two = _slicer_file(tmp_path / "two.seg.nrrd", image, {"lesion": _lesion(), "node": np.roll(_lesion(), 2, axis=2)})
    rt = _rtstruct(tmp_path / "rt.dcm", folder, {"GTV": [(2, _rectangle(6, 11, 5, 9))]})
    write_dicom_series(tmp_path / "other", np.zeros(SHAPE), **PATIENT)
    seg = _seg_file(tmp_path / "seg.dcm", _sources(tmp_path / "other"), _lesion()[..., None].astype(np.uint8),
                    ["lesion"])
    cine = _cine(tmp_path / "cine.dcm", np.zeros((3, 16, 18)))
    Image.fromarray(np.ones((16, 18), np.uint8) * 255).save(tmp_path / "cine_mask.png")
    mri = dict(modality="MRI", view="T2", image=str(folder))
    rows = [dict(mri, mask=str(two)), dict(mri, mask=str(rt)), dict(mri, mask=str(seg)),
            dict(modality="US", view="tumor", image=str(cine), mask=str(tmp_path / "cine_mask.png"))]
    m = tmp_path / "manifest.csv"
    found = [str(p) for p in _check(rows, m, MRI={"roi_label": "tumour"}).problems]
    assert len(found) == 4
    assert found[0] == (f"{m}, row 1, column 'mask': mask {two} has no segment named 'tumour' (segments present: "
                        "1 'lesion', 1 'node'): change preprocess.MRI.roi_label to one of them")
    assert found[1].startswith(f"{m}, row 2, column 'mask': mask {rt} has no ROI named 'tumour' (ROIs present: 1 'GTV')")
    assert found[2].startswith(f"{m}, row 3, column 'mask': mask {seg} has no segment named 'tumour'")
    assert found[3] == (f"{m}, row 4, column 'image': {cine} is a multi-frame DICOM (3 frames, e.g. a cine loop) and "
                        "US images are 2D: choose the frame with preprocess.US.frame (0 = first)")
    found = [str(p) for p in _check(rows, m, MRI={"roi_label": {"T2": "lesion"}}, US={"frame": 7}).problems]
    assert len(found) == 3 and "row 1" not in " ".join(found)
    assert "mask " + str(rt) + " has no ROI named 'lesion'" in found[0]
    assert f"mask {seg} is a DICOM SEG of series" in found[1] and "not of image" in found[1]
    assert found[2] == (f"{m}, row 4, column 'image': {cine}: frame 7 is out of range: the file has 3 frame(s), 0 to 2: "
                        "change preprocess.US.frame")
    assert _check(rows[:1], m, MRI={"roi_label": "lesion"}).problems == []
    assert _check(rows[1:2], m).problems == []  # an RTSTRUCT with one ROI needs no label


def test_validate_warns_of_colour_overlays_per_image_and_inside_the_roi(tmp_path):
    _grey_with_overlay(tmp_path)
    mask = np.zeros((30, 40), np.uint8)
    mask[5:15, 3:12] = 255  # holds the calliper cross (9 of its 90 pixels)
    Image.fromarray(mask).save(tmp_path / "m.png")
    checked = _check([dict(modality="US", view="tumor", image=str(tmp_path / "us.png"), mask=str(tmp_path / "m.png"),
                           pixel_spacing="0.1")], tmp_path / "manifest.csv")
    assert checked.problems == []
    image_warning, roi_warning = checked.warnings[("P0", "US", "tumor")]
    assert image_warning.startswith("1 % of the pixels are coloured")
    assert roi_warning.startswith("rater A: 10 % of the ROI's pixels are coloured")
