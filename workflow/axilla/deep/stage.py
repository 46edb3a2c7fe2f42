"""The `deep` rule: honest weights (file / fine-tuned / random) and the features of one view.

Where the weights come from is recorded in a provenance dict whose `description` says it in plain
words. Fine-tuning sees only the training images and labels it is given: `prepare_model` has no
parameter through which evaluation data could reach it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import monai
import numpy as np
import torch

from ..exclusion import computed
from ..settings import Deep
from ..io import atomic_path, write_csv
from ..weights import is_cache_word, resolve
from .backbones import (build_backbone, choose_device, extract_features, feature_dim, head_layer, set_determinism,
                        set_threads)
from .cam import gradcam_examples
from .compare import signature_column
from .finetuning import FINETUNE_DEFAULTS, check_training_data, finetune
from .heads import attach_head, layer_name, layer_spec, load_fc
from .inputs import ViewInputs, make_inputs, view_inputs
from .oof import out_of_fold, predict_proba, record
from .reproducible import mode_of, strict_mode
from .weights import _unwrap_state_dict, load_file_spec, state_dict_sha256

log = logging.getLogger(__name__)

@dataclass
class _Build:
    """The network asked for, and the provenance record its weights are written into."""

    name: str
    spatial_dims: int
    in_channels: int
    prov: dict
    layer: str | dict = "penultimate"

    def model(self, file_spec: dict | None = None) -> torch.nn.Module:
        arch = dict((file_spec or {}).get("architecture") or {})
        self.prov["architecture_overrides"] = arch
        model = build_backbone(self.name, self.spatial_dims, in_channels=self.in_channels, **arch)
        return attach_head(model, head_layer(model)[0], self.layer)

    def load(self, model: torch.nn.Module, spec: dict) -> str:
        """Load a file spec into `model` (and its head into an fc layer), record it; the load in words."""
        self.prov["file"], words = load_file_spec(model, spec)
        self.prov["sha256"] = self.prov["file"]["sha256"]
        if "cache" in self.prov:  # named by a word (init: imagenet): say which entry it resolved to
            c = self.prov["cache"]
            words = f"{c['weights']} weights (cache entry {c['name']}) " + words.removeprefix("weights ")
        if layer_spec(self.layer)[0] != "fc":
            return words
        source = _unwrap_state_dict(torch.load(spec["path"], map_location="cpu", weights_only=True))
        return f"{words}; {load_fc(head_layer(model)[1], source)}"


def _random_weights(b: _Build, weights: dict, seed: int) -> torch.nn.Module:
    if set(weights) - {"source"}:
        raise ValueError(f"random weights take no settings; got {sorted(weights)}")
    model = b.model()
    b.prov["description"] = (
        f"random initialisation of {b.name} ({b.spatial_dims}D, seed {seed}); no pretrained or "
        "fine-tuned weights, so the features come from an untrained network"
    )
    return model


def _from_cache(b: _Build, spec: dict) -> dict:
    """A file spec whose path is a word for pretrained weights (imagenet, medicalnet, pretrained):
    the verified cache file of this backbone, with the network settings and input normalisation
    its registry entry gives (the spec's own architecture / input_norm win)."""
    if not is_cache_word(spec.get("path")):
        return spec
    cached, b.prov["cache"] = resolve(spec["path"], b.name, b.spatial_dims)
    arch = {**cached["architecture"], **(spec.get("architecture") or {})}
    return {**spec, "path": cached["path"], "architecture": arch,
            "input_norm": spec.get("input_norm", cached["input_norm"])}


def _file_weights(b: _Build, weights: dict) -> torch.nn.Module:
    weights = _from_cache(b, weights)
    model = b.model(weights)
    words = b.load(model, weights)
    b.prov["description"] = f"{b.name} ({b.spatial_dims}D) loaded {words}"
    return model


def _finetune_start(b: _Build, init) -> tuple[torch.nn.Module, str]:
    """The network fine-tuning starts from ("random", a weights path or a file spec), in words."""
    if init == "random":
        return b.model(), "random initialisation"
    spec = {"source": "file", "path": init} if isinstance(init, (str, os.PathLike)) else dict(init)
    spec.pop("source", None)
    spec = _from_cache(b, spec)
    model = b.model(spec)
    return model, b.load(model, spec)


def _finetuned_weights(b: _Build, weights: dict, train_images, train_labels, seed: int, device: str,
                       train_groups) -> torch.nn.Module:
    unknown = set(weights) - set(FINETUNE_DEFAULTS) - {"source"}
    if unknown:
        raise ValueError(
            f"unknown fine-tuning setting(s) {sorted(unknown)}; allowed: {sorted(FINETUNE_DEFAULTS)}"
        )
    if train_images is None or train_labels is None:
        raise ValueError("fine-tuning needs train_images and train_labels (training patients only)")
    images, labels = check_training_data(train_images, train_labels, b.spatial_dims, b.in_channels)
    settings = {k: v for k, v in weights.items() if k != "source"}
    model, init_words = _finetune_start(b, settings.get("init", FINETUNE_DEFAULTS["init"]))
    rec = finetune(model, images, labels, settings, seed, device, train_groups)
    b.prov["finetune"] = rec
    b.prov.update(epochs_run=rec["epochs_run"], best_epoch=rec["best_epoch"], best_val_loss=rec["best_val_loss"])
    n_pat = len(set(train_groups)) if train_groups is not None else len(labels)
    b.prov["description"] = _finetune_words(b, init_words, rec, n_pat)
    return model


def _finetune_words(b: _Build, init_words: str, rec: dict, n_pat: int) -> str:
    stop = f"early stop at epoch {rec['epochs_run']}, " if rec["early_stopped"] else ""
    if rec["best_val_loss"] is not None:
        tail = f"({stop}best epoch {rec['best_epoch']}, best validation loss {rec['best_val_loss']:.3f})"
    else:
        tail = "(no inner validation split; last epoch kept)"
    return (
        f"{b.name} ({b.spatial_dims}D) fine-tuned from {init_words} on {n_pat} training patients "
        f"({rec['n_train']} inner-training / {rec['n_val']} inner-validation images) "
        f"for {rec['epochs_run']} epochs {tail}"
    )


def prepare_model(
    name: str,
    spatial_dims: int,
    weights: dict,
    train_images: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
    seed: int = 0,
    threads: int | None = 1,
    device: str | None = None,
    *,
    in_channels: int = 1,
    train_groups: Sequence | None = None,
    layer: str | dict = "penultimate",
) -> tuple[torch.nn.Module, dict]:
    """Build the backbone and give it the weights `weights` asks for; return (model, provenance).

    weights: {"source": "file", "path": ..., ["strict": true], ["input_norm": "imagenet"],
              ["architecture": {MONAI ResNet overrides}]}
           | {"source": "finetune", **FINETUNE_DEFAULTS overrides}   (init: "random" | path | file dict)
           | {"source": "random"}
    train_images / train_labels (training patients only) are needed for "finetune" and unused
    otherwise; train_groups (patient ids) keeps a patient's images on one side of the inner split.
    layer (axilla.deep.heads) fc or {bottleneck: k} gives the network the head those features need.
    The model comes back in eval mode on `device` (default: choose_device()).
    """
    device = device or choose_device()
    set_threads(threads)
    set_determinism(seed)
    if not isinstance(weights, dict) or "source" not in weights:
        raise ValueError("weights must be a mapping with a 'source' of 'file', 'finetune' or 'random'")
    source = weights["source"]
    prov: dict = {"source": source, "backbone": name, "spatial_dims": spatial_dims, "seed": seed,
                  "device": device, "torch": torch.__version__, "monai": monai.__version__}
    b = _Build(name, spatial_dims, in_channels, prov, layer)
    if source == "random":
        model = _random_weights(b, weights, seed)
    elif source == "file":
        model = _file_weights(b, weights)
    elif source == "finetune":
        model = _finetuned_weights(b, weights, train_images, train_labels, seed, device, train_groups)
    else:
        raise ValueError(f"unknown weights source {source!r}; choose 'file', 'finetune' or 'random'")
    model.to(device).eval()
    prov["layer"] = layer_name(layer)
    prov["feature_dim"] = feature_dim(model)
    prov["model_sha256"] = state_dict_sha256(model)
    return model, prov


# --------------------------------------------------------------------------- the rule's entry point


def _read_cases(prep_dirs: Sequence[str], primary_rater: str,
                auto_masks: str | None = None) -> tuple[list[str], list, list]:
    """(patient ids, image arrays, primary-rater mask arrays) of preprocess/<patient>/<MOD>_<view> folders.

    `auto_masks` (roi.source: auto): the view's segmentation folder, whose fused masks replace the
    primary rater's; a patient whose automatic mask is empty is left out (no features: missing
    values, imputed downstream from training rows; segmentation/review.csv lists it)."""
    import SimpleITK as sitk

    from ..autoroi import mask_path, read_mask

    patients, images, masks = [], [], []
    for d in prep_dirs:
        patient, image = Path(d).parent.name, sitk.ReadImage(str(Path(d) / "image.nii.gz"))
        mask = (read_mask(mask_path(auto_masks, patient), image) if auto_masks
                else sitk.ReadImage(str(Path(d) / f"mask-{primary_rater}.nii.gz")))
        mask = sitk.GetArrayFromImage(mask)
        if auto_masks and not mask.any():
            log.warning("%s: the automatic mask is empty; no deep features for this patient", patient)
            continue
        patients.append(patient)
        images.append(sitk.GetArrayFromImage(image))
        masks.append(mask)
    return patients, images, masks


def _run_device(settings: Deep, modality: str, view: str) -> str:
    """The device this job sees, logged (a GPU asked for but not visible is warned about)."""
    device = choose_device()
    if settings.gpu and device == "cpu":
        log.warning("deep.gpu is set but no CUDA device is visible to this job; running on the CPU")
    log.info("%s %s: device %s%s", modality, view, device,
             f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else f" ({torch.get_num_threads()} threads)")
    return device


def _write_features(feats: np.ndarray, patients: list[str], prefix: str, path: str,
                    signature: str = "features", missing: Sequence[str] = ()) -> None:
    """One row per patient; `missing` patients (an empty automatic mask) as rows of missing values."""
    import pandas as pd

    if signature == "probability":  # the DL signature: one column, <MOD>_<view>_dl_sig
        table = signature_column(patients, prefix, feats[:, 0])
    else:
        table = pd.DataFrame(feats, columns=[f"{prefix}_deep_{i:04d}" for i in range(feats.shape[1])])
        table.insert(0, "patient_id", patients)
    if len(missing):
        table = pd.concat([table, pd.DataFrame({"patient_id": list(missing)})], ignore_index=True)
    write_csv(table.sort_values("patient_id"), path)


def _gradcam_record(out_dir: Path, weights: dict, model, x, y, is_train, label: str, seed: int, device: str,
                    mask_crops) -> dict:
    if weights.get("source") == "random":
        return {"files": [], "note": "no Grad-CAM: the network is randomly initialised (neither "
                                     "fine-tuned nor loaded from a file), so its maps explain nothing"}
    return gradcam_examples(model, x, y, is_train, str(out_dir), label, seed, device=device, mask_crops=mask_crops)


def run(prep_dirs: Sequence[str], split_csv: str, modality: str, view: str, settings: Deep, primary_rater: str,
        seed: int, threads: int, out_features: str, out_provenance: str, out_gradcam: str | None = None,
        out_network: str | None = None, auto_masks: str | None = None) -> None:
    """Deep features of one modality × view for every patient (those validate excluded left out).

    The network sees only training-cohort patients while its weights are fitted, so the
    features of evaluation cohorts come from a network trained without them. With
    ``out_gradcam`` (a folder), Grad-CAM examples of training patients when the weights were
    fine-tuned or loaded from a file; for a randomly initialised network the folder stays empty
    and the provenance says why. ``deep.reproducible: strict`` pins the kernels
    (axilla.deep.reproducible; the job's script pinned the environment before importing torch).
    With ``out_network`` the network's final state dict is saved there (the study's bundle).
    ``auto_masks`` (roi.source: auto): the view's segmentation folder, whose fused automatic masks
    are the ROIs (the provenance's ``roi`` says so).
    """
    import pandas as pd

    split = pd.read_csv(split_csv, dtype={"patient_id": str}).set_index("patient_id")
    # excluded patients' markers left out
    patients, images, masks = _read_cases(computed(prep_dirs), primary_rater, auto_masks)
    unusable = sorted({Path(d).parent.name for d in computed(prep_dirs)} - set(patients))
    crop = {"intensity": settings.intensity, "interpolation": settings.interpolation}
    vi = view_inputs(images, masks, modality == "MRI", settings.slices, settings.size_2d, settings.size_3d,
                     settings.margin, **crop)
    is_train = split.loc[patients, "cohort"].to_numpy() == "train"
    y = split.loc[patients, "y"].to_numpy()
    device = _run_device(settings, modality, view)
    # strict: deep.threads exactly (Snakemake lowers a job's threads to --cores on a smaller machine)
    threads = settings.threads if mode_of(settings.reproducible) == "strict" else threads
    with strict_mode(settings.reproducible, threads, device) as pinned:
        model, prov, feats = _fit_and_extract(settings, modality, vi, is_train, y, seed, threads, device, patients)
        _write_features(feats, patients, f"{modality}_{view}", out_features, settings.signature, unusable)
        if out_network:
            save_network(model, out_network)
        prov.update(n_patients=len(patients), n_train=int(is_train.sum()), input=vi.shape, feature_dim=feats.shape[1],
                    reproducible=pinned)
        if vi.slices is not None:
            prov["slices"] = dict(zip(patients, vi.slices))
        if auto_masks:
            prov["roi"] = {"source": "auto", "masks": str(auto_masks), "no_features": unusable}
        if out_gradcam:
            def mask_crops(idx):  # the masks cropped like their images: where the ROI is in a 3D crop
                sel = [masks[i] for i in idx]
                return make_inputs(sel, sel, vi.dims, vi.size, settings.margin, interpolation=settings.interpolation)

            with atomic_path(out_gradcam, directory=True) as tmp:
                prov["gradcam"] = _gradcam_record(tmp, settings.weights, model, vi.per_image, y, is_train,
                                                  f"{modality} {view}", seed, device, mask_crops)
    with atomic_path(out_provenance) as tmp:
        tmp.write_text(json.dumps(prov, indent=2, sort_keys=True, default=str) + "\n")
    log.info("%s %s: %s; %d features per patient on %s", modality, view, prov.get("description", ""),
             feats.shape[1], device)


def save_network(model: torch.nn.Module, path: str) -> None:
    """The network's weights and buffers (batch-norm statistics) as a CPU state dict, atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # through a file object: given a path, torch names the archive inside after the (temporary) file
    with atomic_path(path, suffix=".pt") as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)


def _fit_and_extract(settings: Deep, modality: str, vi: ViewInputs, is_train, y, seed: int, threads: int,
                     device: str, patients: Sequence[str] = ()) -> tuple[torch.nn.Module, dict, np.ndarray]:
    """The network of the view (fitted on training rows only) and one feature row per patient:
    its features (deep.signature: features) or its output probability (probability: out-of-fold
    for training patients). Several candidates (deep.backbones): the one deep.choose picks."""
    def fit(name: str, patients_mask: np.ndarray, keep: dict | None = None) -> torch.nn.Module:
        rows = patients_mask[vi.owner]
        groups = vi.owner[rows] if len(vi.rows) != len(vi.per_image) else None  # a patient's slices stay together
        model, prov = prepare_model(name, vi.dims, dict(settings.weights), train_images=vi.rows[rows],
                                    train_labels=y[vi.owner][rows], seed=seed, threads=threads, device=device,
                                    train_groups=groups, layer=settings.layer)
        (keep if keep is not None else {}).update(prov)
        return model

    name, oof, extra = settings.candidates(modality)[0], None, {}
    if settings.out_of_fold(modality):
        name, oof, fold, aucs = out_of_fold(fit, settings.candidates(modality), vi.rows, vi.owner, is_train, y,
                                            settings.folds, seed, settings.choose, settings.batch_size, device, threads)
        extra = record(patients, fold, settings.folds, aucs, name, settings.signature, settings.choose)
    prov: dict = {}
    model = fit(name, np.asarray(is_train, bool), prov)
    if settings.signature == "probability":
        full = vi.average(predict_proba(model, vi.rows, settings.batch_size, device, threads)[:, None])[:, 0]
        feats = np.where(is_train, oof, full)[:, None]  # training patients: the fold network's
    else:
        feats = vi.average(extract_features(model, vi.rows, batch_size=settings.batch_size, device=device,
                                            threads=threads, layer=settings.layer))
    prov.update(backbone=name, spatial_dims=vi.dims, input_size=list(vi.size), device=device, **extra)
    return model, prov, feats
