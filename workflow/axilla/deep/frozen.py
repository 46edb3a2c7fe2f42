"""Deep features of a new cohort from a frozen study's network (the `apply_deep` rule).

The network is rebuilt from the study's provenance (backbone, dimensions, architecture, head) and
given the state dict the study saved in its bundle; nothing is fine-tuned or initialised at random,
and the loaded weights must hash to the study's ``model_sha256``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from ..exclusion import computed
from ..io import file_sha256, write_json
from ..settings import Deep
from .backbones import extract_features, set_determinism, set_threads
from .oof import predict_proba
from .inputs import view_inputs
from .reproducible import mode_of, strict_mode
from .stage import _Build, _read_cases, _run_device, _write_features
from .weights import state_dict_sha256

log = logging.getLogger(__name__)


def frozen_network(network_pt: str, study_prov: dict, layer, device: str) -> torch.nn.Module:
    """The study's network with its saved weights, in eval mode on ``device``; a state dict that
    does not hash to the study's record stops the job (the bundle was changed)."""
    b = _Build(study_prov["backbone"], int(study_prov["spatial_dims"]), 1, {}, layer)
    model = b.model({"architecture": study_prov.get("architecture_overrides") or {}})
    model.load_state_dict(torch.load(network_pt, map_location="cpu", weights_only=True), strict=True)
    got, want = state_dict_sha256(model), study_prov.get("model_sha256")
    if got != want:
        raise ValueError(f"{network_pt}: the network's weights hash to {got}, the study recorded {want}; "
                         "the bundle was changed: rebuild it from the study")
    return model.to(device).eval()


def run(prep_dirs: Sequence[str], network_pt: str, study_provenance: str, modality: str, view: str,
        settings: Deep, primary_rater: str, threads: int, out_features: str, out_provenance: str) -> None:
    """Features of one modality × view for every patient of the new cohort, with the study's network
    (``settings`` are the study's own deep settings, read from the bundle)."""
    study_prov = json.loads(Path(study_provenance).read_text())
    patients, images, masks = _read_cases(computed(prep_dirs), primary_rater)
    crop = {"intensity": settings.intensity, "interpolation": settings.interpolation}
    vi = view_inputs(images, masks, modality == "MRI", settings.slices, settings.size_2d, settings.size_3d,
                     settings.margin, **crop)
    device = _run_device(settings, modality, view)
    threads = settings.threads if mode_of(settings.reproducible) == "strict" else threads
    set_threads(threads)
    set_determinism(0)  # deterministic kernels, as the study's extraction ran with (no weight is drawn)
    with strict_mode(settings.reproducible, threads, device) as pinned:
        model = frozen_network(network_pt, study_prov, settings.layer, device)
        if settings.signature == "probability":  # the study network's own probability (its DL signature)
            feats = vi.average(predict_proba(model, vi.rows, settings.batch_size, device, threads)[:, None])
        else:
            feats = vi.average(extract_features(model, vi.rows, batch_size=settings.batch_size, device=device,
                                                threads=threads, layer=settings.layer))
    _write_features(feats, patients, f"{modality}_{view}", out_features, settings.signature)
    prov = {k: study_prov.get(k) for k in ("backbone", "spatial_dims", "layer", "model_sha256", "input_size")}
    prov.update(source="bundle", network=str(network_pt), network_file_sha256=file_sha256(network_pt),
                study_weights=study_prov.get("description"), n_patients=len(patients), feature_dim=feats.shape[1],
                device=device, reproducible=pinned, torch=torch.__version__,
                description=f"{study_prov.get('backbone')} ({study_prov.get('spatial_dims')}D) of the frozen study, "
                            f"loaded from its bundle ({Path(network_pt).name}), not refitted; the study's network: "
                            f"{study_prov.get('description', '')}")
    write_json(prov, out_provenance)
    log.info("%s %s: %d patients, %d features each, with the bundled network", modality, view, len(patients),
             feats.shape[1])
