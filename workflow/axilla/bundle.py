"""A frozen study: results/<study>/bundle/, everything needed to score new patients without refitting.

Layout (every file's sha256 in ``manifest.json``, which also holds the software versions, the
input hashes and the cut-offs)::

    config.json                    the study's config, defaults filled (preprocessing, radiomics,
                                   deep, selection, models: every setting the new cohort is run with)
    radiomics/<MOD>.<ext>          the pyradiomics parameter files
    reproducible_features.csv      the radiomics features that passed the ICC filter
    deep/<MOD>_<view>.pt / .json   each view's network as used (fine-tuned, loaded or random) and its provenance
    models/<model>/model.pkl       fitted imputers, encoders, selection chain and classifier (feature
                                   models) or the meta-classifier (post-fusion)
    cutoffs.csv                    model, youden: the training cohort's Youden cut-off

The study's config key ``apply`` (axilla.apply) reads a bundle; :func:`verify` checks it first.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .errors import InputError, Problem
from .io import atomic_path, file_sha256, write_csv, write_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CONFIG = "config.json"
CUTOFFS = "cutoffs.csv"
REPRODUCIBLE = "reproducible_features.csv"
# config keys the new cohort's own config gives; every other key is the study's
OWN_KEYS = ("study", "apply")


def _copy(src: str, root: Path, rel: str) -> None:
    dst = root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def youden_cutoffs(train_predictions: str) -> pd.DataFrame:
    """model, youden: each model's Youden cut-off on the training cohort, as `evaluate` derives it."""
    from .evaluate.thresholds import youden_threshold

    df = pd.read_csv(train_predictions, dtype={"patient_id": str})
    y = df["y"].to_numpy(dtype=int)
    return pd.DataFrame([{"model": m, "youden": youden_threshold(y, df[m].to_numpy(dtype=float))}
                         for m in df.columns[2:]])


def input_hashes(inputs: Mapping[str, str], validated_manifest: str) -> dict:
    """sha256 of the study's manifest and clinical table, and one over all its image and mask files."""
    from .report.provenance import image_set_row

    out = {k: {"path": str(p), "sha256": file_sha256(p)} for k, p in inputs.items()}
    images = image_set_row(validated_manifest)
    out["images"] = {"path": images["input"], "sha256": images["sha256"]}
    return out


def make(out_dir: str, config: dict, radiomics_params: Mapping[str, str], reproducible: str,
         deep: Mapping[str, tuple[str, str]], models: Mapping[str, str], train_predictions: str,
         inputs: Mapping[str, str], validated_manifest: str) -> None:
    """Write the bundle folder atomically. ``deep``: view key -> (network .pt, provenance .json);
    ``models``: model name -> model.pkl; ``inputs``: label -> raw input file (manifest, clinical)."""
    from .report.provenance import versions

    with atomic_path(out_dir, directory=True) as tmp:
        root = Path(tmp)
        # key order kept (not write_json's sorted keys): the order of models and views is the study's
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, default=str) + "\n")
        for mod, path in radiomics_params.items():
            _copy(path, root, f"radiomics/{mod}{''.join(Path(path).suffixes)}")
        _copy(reproducible, root, REPRODUCIBLE)
        for key, (pt, prov) in deep.items():
            _copy(pt, root, f"deep/{key}.pt")
            _copy(prov, root, f"deep/{key}.json")
        for name, pkl in models.items():
            _copy(pkl, root, f"models/{name}/model.pkl")
        cutoffs = youden_cutoffs(train_predictions)
        write_csv(cutoffs, root / CUTOFFS, float_format=None)
        files = {str(p.relative_to(root)): file_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}
        write_json({"study": config["study"], "files": files, "software": versions(),
                    "inputs": input_hashes(inputs, validated_manifest),
                    "models": {m: _kind(config["models"][m]) for m in models},
                    "views": sorted(deep), "cutoffs": dict(zip(cutoffs.model, cutoffs.youden))}, root / MANIFEST)
    log.info("bundle of study %s: %d files in %s", config["study"], len(files) + 1, out_dir)


def _kind(spec: Mapping) -> str:
    return "fusion" if spec.get("fuse") else "scores" if spec.get("scores") else "features"


def read_manifest(bundle: str) -> dict:
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise InputError(Problem(str(path), "no bundle manifest here: point 'apply.bundle' at a study's "
                                            "results/<study>/bundle folder (made with 'bundle: true')"))
    return json.loads(path.read_text())


def frozen_config(config: Mapping) -> dict:
    """The config an ``apply`` run uses: the bundled study's, with this config's study name and
    ``apply`` section, the new cohort's manifest and clinical table, and the bundled radiomics
    parameter files; everything else (preprocessing, features, models) is the study's."""
    extra = sorted(set(config) - set(OWN_KEYS))
    if extra:
        raise InputError([Problem("config", f"key '{k}': an apply run takes every setting from the bundle; "
                                            "give only 'study' and 'apply'") for k in extra])
    if not isinstance(config["apply"], Mapping) or not config["apply"].get("bundle"):
        raise InputError(Problem("config", "key 'apply.bundle': the folder of a study's bundle "
                                           "(results/<study>/bundle), with 'manifest' and 'clinical' of the new cohort"))
    bundle = Path(config["apply"]["bundle"])
    frozen = json.loads((bundle / CONFIG).read_text())
    if config.get("study") in (None, frozen["study"]):
        raise InputError(Problem("config", f"key 'study': name the new cohort's run (not '{frozen['study']}', the "
                                           "bundled study's name: its results would be overwritten)"))
    frozen.update({k: config[k] for k in OWN_KEYS})
    frozen.update(manifest=config["apply"].get("manifest"), clinical=config["apply"].get("clinical"), bundle=False)
    files = read_manifest(str(bundle))["files"]
    params = {rel.split("/")[1].split(".")[0]: str(bundle / rel) for rel in files if rel.startswith("radiomics/")}
    frozen["radiomics"] = {**frozen["radiomics"], "params": {**frozen["radiomics"]["params"], **params}}
    return frozen


def verify(bundle: str) -> dict:
    """Every bundled file present with the sha256 its manifest records (all problems at once);
    returns the check's record: files checked, and software that differs from the study's."""
    from .report.provenance import versions

    man = read_manifest(bundle)
    problems = []
    for rel, want in man["files"].items():
        path = os.path.join(bundle, rel)
        if not os.path.isfile(path):
            problems.append(Problem(path, "bundled file missing: copy the whole bundle folder"))
        elif file_sha256(path) != want:
            problems.append(Problem(path, f"sha256 differs from the bundle manifest's {want}: the file was changed; "
                                          "use the study's original bundle"))
    if problems:
        raise InputError(problems)
    now = versions()
    differ = {k: {"study": v, "now": now.get(k)} for k, v in man["software"].items()
              if k != "platform" and now.get(k) != v}
    for k, v in differ.items():
        log.warning("software %s: the study ran %s, this run has %s", k, v["study"], v["now"])
    return {"bundle": str(bundle), "study": man["study"], "files_checked": len(man["files"]),
            "manifest_sha256": file_sha256(os.path.join(bundle, MANIFEST)), "software_differs": differ}


def cutoffs(bundle: str) -> dict[str, float]:
    table = pd.read_csv(Path(bundle) / CUTOFFS)
    return dict(zip(table.model, table.youden.astype(float)))
