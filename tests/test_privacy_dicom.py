"""No patient identifier from a DICOM header reaches any output: images, masks, QC, logs, table, gallery."""

import gzip
from pathlib import Path

import numpy as np

from axilla import qc
from axilla.io import write_csv
from axilla.preprocess import main
from imaging_helpers import blob_volume, write_dicom_2d, write_dicom_series

PHI = {"PatientName": "Zyxwert^Quorbla", "PatientBirthDate": "19610203", "AccessionNumber": "ACC8812345",
       "PatientID": "MRN-7731", "InstitutionName": "St Example Hospital"}
NEEDLES = ["Zyxwert", "Quorbla", "19610203", "1961-02-03", "ACC8812345", "MRN-7731", "Example Hospital"]


def _scan(root: Path) -> list[str]:
    hits = []
    for f in root.rglob("*"):
        if not f.is_file():
            continue
        data = f.read_bytes()
        if f.name.endswith(".gz"):
            data += gzip.decompress(data)
        for n in NEEDLES:
            if n.encode() in data or n.encode("utf-16-le") in data:
                hits.append(f"{f.relative_to(root)}: {n}")
    return hits


def test_dicom_identifiers_never_reach_outputs(tmp_path):
    img, mask = blob_volume(shape=(6, 32, 36), centre=(3, 16, 18), radius=5)
    write_dicom_series(tmp_path / "in" / "series", img, **PHI)
    write_dicom_series(tmp_path / "in" / "mask", mask, **PHI)  # DICOM masks carry the header too
    us = (np.random.default_rng(0).integers(100, 200, (24, 30))).astype(np.uint16)
    write_dicom_2d(tmp_path / "in" / "us.dcm", us, modality="US", PixelSpacing=[0.1, 0.1], **PHI)
    m2 = np.zeros((24, 30), np.uint16)
    m2[8:16, 10:20] = 1
    write_dicom_2d(tmp_path / "in" / "us_mask.dcm", m2, modality="US", PixelSpacing=[0.1, 0.1], **PHI)
    assert _scan(tmp_path / "in")  # the needles are really in the inputs

    res = tmp_path / "results"
    for key, image, msk, mod, view, settings in [
        ("MRI_T2", "series", "mask", "MRI", "T2", '{"spacing": [1, 1, 1], "n4": {"enabled": true}, "ring_mm": 2}'),
        ("US_tumor", "us.dcm", "us_mask.dcm", "US", "tumor", '{"spacing": [0.2, 0.2]}'),
    ]:
        main(["--image", str(tmp_path / "in" / image), "--mask", f"A={tmp_path / 'in' / msk}", "--modality", mod,
              "--view", view, "--settings", settings, "--out", str(res / "preprocess" / "P001" / key),
              "--log", str(res / "logs" / f"{key}.log")])
    table = qc.collect(sorted((res / "preprocess" / "P001").iterdir()), res)
    write_csv(table, res / "qc" / "preprocess.csv")
    (res / "qc" / "gallery.html").write_text(qc.gallery_html(table, res))
    assert len(table) == 2 and len(list(res.rglob("*.nii.gz"))) == 5 and len(list(res.rglob("qc.png"))) == 2
    assert _scan(res) == []
