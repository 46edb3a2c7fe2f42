"""Logs: every rule writes a log file, and a failed run's message points to it."""

import re
import subprocess
import sys

import numpy as np
import SimpleITK as sitk
import yaml

from conftest import ROOT
from smallstudy import workdir


def test_every_rule_has_a_log():
    missing = []
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^\s*rule (\w+):", text, re.M)]
        for i, (pos, name) in enumerate(starts):
            body = text[pos:starts[i + 1][0] if i + 1 < len(starts) else len(text)]
            if "output:" in body and not re.search(r"^\s+log:", body, re.M):
                missing.append(f"{smk.name}: rule {name}")
    assert missing == []
    assert len(list((ROOT / "workflow" / "rules").glob("*.smk"))) > 5


def test_failure_message_points_to_the_log_and_nothing_is_processed(tiny_cohort, tmp_path_factory):
    empty = sitk.Image(40, 40, sitk.sitkUInt8)
    empty.SetSpacing((0.2, 0.2))
    sitk.WriteImage(empty, str(tiny_cohort / "img" / "T2_A.nii.gz"))
    d = workdir(tmp_path_factory.mktemp("wf"))
    cfg = dict(study="badrun", manifest=str(tiny_cohort / "manifest.csv"), clinical=str(tiny_cohort / "clinical.csv"),
               views={"US": ["tumor"]}, clinical_variables={"age": "numeric", "margin": "categorical"},
               split={"external": None}, models={"clinical": {"features": ["clinical"]}})
    (d / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=d, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode != 0
    log = "results/badrun/logs/validate.log"
    assert f"log: {log} (check log file(s) for error details)" in r.stderr
    text = (d / log).read_text()
    assert f"{tiny_cohort / 'manifest.csv'}, row 3, column 'mask': mask" in text and "is empty" in text
    # Stopped in validation: nothing downstream ran, no validated table was written.
    assert not (d / "results" / "badrun" / "preprocess").exists()
    assert not (d / "results" / "badrun" / "validate" / "manifest.csv").exists()
