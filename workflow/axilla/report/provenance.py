"""Provenance for the report: which input files (by sha256), weights and software made this run."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..io import file_sha256
from ..settings import Study as Settings

PACKAGES = ["axilla", "snakemake", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "pingouin",
            "simpleitk", "pyradiomics-bhklab", "torch", "monai", "antspyx", "matplotlib", "networkx"]


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def weights_file(value) -> str | None:
    """The file of a `deep.weights` entry: `path` is one; `init` is "random", a path, or a file
    spec {"source": "file", "path": ..., ...} (the schema allows an object), named by its path."""
    if isinstance(value, Mapping):
        value = value.get("path")
    return value if isinstance(value, (str, os.PathLike)) and str(value) else None


def input_files(inputs: Mapping[str, object], settings: Settings) -> list[tuple[str, str]]:
    """(label, path) of the configured input files that exist: manifest, clinical table,
    radiomics parameter files, deep-learning weight files."""
    files = [(k, inputs[k]) for k in ("manifest", "clinical_raw") if inputs.get(k)]
    for m, p in sorted((m, p) for m, p in settings.radiomics.params.items() if m in settings.views):
        if os.path.exists(p):
            files.append((f"radiomics params {m}", p))
    w = settings.deep.weights
    for key in ("path", "init"):
        p = weights_file(w.get(key))
        if p and os.path.exists(p):
            files.append((f"deep weights ({key})", p))
    return files


def image_set_row(validated_manifest: str) -> dict[str, str]:
    """One sha256 over every image and mask file of the validated manifest (path and content)."""
    man = pd.read_csv(validated_manifest, dtype=str, keep_default_na=False)
    # "": an auto view's image without a manual mask
    img = sorted((set(man.get("image", [])) | set(man.get("mask", []))) - {""})
    h = hashlib.sha256()
    for p in img:
        h.update(f"{p}\0{file_sha256(p) if os.path.exists(p) else 'missing'}\n".encode())
    return {"input": f"all {len(img)} image and mask files", "path": "(validated manifest)",
            "sha256": h.hexdigest()}


def input_table(inputs: Mapping[str, object], settings: Settings) -> pd.DataFrame:
    prov = [{"input": k, "path": v, "sha256": file_sha256(v)} for k, v in input_files(inputs, settings)]
    if inputs.get("validated_manifest"):
        prov.append(image_set_row(inputs["validated_manifest"]))
    return pd.DataFrame(prov)


def weights_table(deep_weights_json: str) -> pd.DataFrame:
    """view, backbone, weights, description and the weights file's sha256 of the deep stage's
    weights record (description dropped when it only repeats the weights column, sha256 when no
    view loaded a file)."""
    weights = json.loads(Path(deep_weights_json).read_text())
    wt = pd.DataFrame([{"view": k, "backbone": v.get("backbone", ""), "weights": v.get("weights", ""),
                        "description": (v.get("details") or {}).get("description", ""),
                        "weights_sha256": (v.get("details") or {}).get("sha256", "")}
                       for k, v in weights.items()])
    if wt["description"].equals(wt["weights"]):
        wt = wt.drop(columns="description")
    if not wt["weights_sha256"].astype(bool).any():
        wt = wt.drop(columns="weights_sha256")
    return wt


def backbone_comparison(deep_weights_json: str) -> tuple[pd.DataFrame | None, str]:
    """The backbones compared per view (deep.backbones) and the rule that chose, in words; the
    probability signature's folds. (None, "") when no view compared backbones or scored out of fold."""
    from ..deep.compare import backbones_table

    details = {k: v.get("details") or {} for k, v in json.loads(Path(deep_weights_json).read_text()).items()}
    sig = {k: d["signature"] for k, d in details.items() if d.get("signature")}
    words = []
    if any(s["kind"] == "probability" for s in sig.values()):
        k = next(iter(sig.values()))["folds"]
        words.append(f"DL signature: the fine-tuned network's own output probability; each training patient's from "
                     f"the network of the {k}-fold fine-tuning that did not see it, every other cohort's from the "
                     "network fine-tuned on the whole training cohort.")
    rules = {d.get("choose") for d in details.values() if d.get("comparison")}
    if rules:
        words.append(f"Backbones compared by the inner-CV AUC of their out-of-fold probabilities on the training "
                     f"cohort; chosen by {', '.join(sorted(rules))} (the highest AUC, a tie going to the first listed).")
    return backbones_table(details), " ".join(words)


def reproducibility_table(deep_weights_json: str) -> tuple[pd.DataFrame, str]:
    """Per view: deep.reproducible's mode and the kernels the deep job ran with; and what that
    means in words (strict: the same features on any x86-64 CPU, not on a GPU)."""
    weights = json.loads(Path(deep_weights_json).read_text())
    rows = []
    for view, v in weights.items():
        r = (v.get("details") or {}).get("reproducible") or {}
        rows.append({"view": view, "mode": r.get("mode", "not recorded"), "device": r.get("device", ""),
                     "CPU": r.get("cpu", ""), "ATen kernels": r.get("cpu_capability", ""),
                     "MKL": ((r.get("env") or {}).get("MKL_CBWR") or "auto") if r else "",
                     "oneDNN": {True: "on", False: "off"}.get(r.get("mkldnn"), ""), "threads": r.get("threads", "")})
    table = pd.DataFrame(rows)
    modes, devices = set(table["mode"]), set(table["device"])
    if "off" in modes:
        words = ("deep.reproducible: off for some views: their features depend on the machine (the CPU's vector "
                 "kernels, the thread count); another computer gives other deep features and models.")
    elif modes == {"strict"} and devices == {"cpu"}:
        words = ("deep.reproducible: strict. The deep features are the same on any x86-64 CPU with the same "
                 "software versions (baseline ATen kernels, MKL's reproducible code path, oneDNN off, fixed thread "
                 "count). A GPU run gives other features than a CPU run, and GPUs of other models or CUDA/cuDNN "
                 "versions other features again.")
    elif modes == {"strict"}:
        words = ("deep.reproducible: strict on a GPU: deterministic flags make a rerun on the same GPU model and "
                 "CUDA/cuDNN versions repeat itself; GPU features differ from CPU features and between GPU models.")
    else:
        words = "The numerical mode of some views' deep features was not recorded."
    return table, words
