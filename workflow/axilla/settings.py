"""Typed study settings, built once from the validated config.

The schema (``workflow/schemas/config.schema.yaml``) is the one place defaults live:
:func:`with_defaults` (axilla.defaults) fills them (also inside optional objects, per-modality
blocks and per-view maps, which Snakemake's own ``validate`` leaves empty), and the dataclasses
below have no defaults of their own. :func:`load` adds the checks that span keys (a primary model that exists, fusion bases that
are feature models, ...), so a bad config stops at parse time with an :class:`InputError`.
Rules hand each job the section it needs; the package reads attributes, never ``.get(key, x)``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from .defaults import SCHEMA, classifier_spec, load_schema, select_spec, with_defaults  # noqa: F401 (re-exported)
from .errors import InputError, Problem
from .segment.checks import problems as segment_problems


# --------------------------------------------------------------------------- settings objects


@dataclass(frozen=True)
class Demo:
    n_patients: int
    rater_fraction: float
    missing: dict  # modality -> fraction of patients without its images


@dataclass(frozen=True)
class Validate:
    missing_view: str
    confine_paths: bool
    # what a patient with a problem of the class does: "stop" the run, or "drop" (exclude) the patient
    unreadable: str
    small_roi: str
    missing_outcome: str

    @property
    def excludes_after_parse(self) -> bool:
        """Whether validation's file and clinical reads may exclude patients the Snakefile planned
        jobs for (a missing view is decided at parse time, from the manifest's structure)."""
        return "drop" in (self.unreadable, self.small_roi, self.missing_outcome)


@dataclass(frozen=True)
class Missing:
    strategy: str


@dataclass(frozen=True)
class Blood:
    neutrophils: str
    lymphocytes: str
    platelets: str
    monocytes: str
    wbc: str


@dataclass(frozen=True)
class N4:
    enabled: bool
    backend: str  # "ants" uses ANTsPy's N4 (as seed 001); SimpleITK's is cheaper to start
    shrink: int
    iterations: list
    tolerance: float | None  # convergence threshold; None: the backend's (SimpleITK 1e-3, ANTsPy 1e-7)
    spline_distance: float | None  # mm between B-spline knots; None: one mesh element (both backends)
    mask: str  # fit the field inside the Otsu body mask ("foreground") or everywhere ("none")
    skip_views: list


@dataclass(frozen=True)
class DCE:
    phase: int | None  # phase of a 4D series to keep; None: the view's number (DCE2 -> 2)
    subtract: bool  # phase minus pre-contrast
    pre_phase: int  # pre-contrast phase of a 4D series
    pre_view: str | None  # pre-contrast view (e.g. DCE0) when phases are separate 3D images


@dataclass(frozen=True)
class Preprocess:
    """One modality's preprocessing (``preprocess.<MOD>``)."""

    spacing: list | None  # None: no resampling
    interpolation: str | None  # None: B-spline in 3D, linear in 2D
    normalize: str
    normalize_region: str  # statistics over the Otsu body mask or the whole "image"
    clip_percentiles: list | None
    n4: N4
    dce: DCE
    flip: str  # MG: "chest_wall_left" / "chest_wall_right"
    pixel_spacing: list | None  # 2D files that state no spacing
    # None: the only nonzero value / the only segment; an integer (voxel value, segment number) or a
    # string (segment or ROI name of an annotation file), or {view: either}
    roi_label: int | str | dict | None
    frame: int | None  # frame of a multi-frame 2D file (US cine loop), 0 = first
    min_roi_voxels: int
    align_tolerance_voxels: float
    ring_mm: float | None
    threads: int

    def label_for(self, view: str) -> int | str | None:
        if isinstance(self.roi_label, dict):
            return self.roi_label.get(view)
        return self.roi_label


@dataclass(frozen=True)
class Radiomics:
    params: dict  # modality -> pyradiomics parameter file


@dataclass(frozen=True)
class Deep:
    backbone: dict  # modality -> backbone name
    backbones: dict  # modality -> backbone names compared by inner-CV AUC (replacing `backbone` there)
    choose: str  # max_auc: the rule that picks one of `backbones`
    signature: str  # features | probability (the network's out-of-fold output probability)
    folds: int  # k of the out-of-fold fine-tuning (probability signature, backbone comparison)
    size_2d: list
    size_3d: list
    margin: int
    intensity: str  # minmax | zscore
    interpolation: str  # linear | nearest
    layer: str | dict  # penultimate | fc | {bottleneck: k} (axilla.deep.heads)
    slices: str | dict  # volume | max_roi | {max_roi: k} (3D views)
    batch_size: int
    gpu: bool
    threads: int
    reproducible: str | bool  # "strict" | "off" (False: YAML's bare off); axilla.deep.reproducible.mode_of
    weights: dict  # source + the options of that source (free-form by design: file, finetune, random)

    def candidates(self, modality: str) -> list[str]:
        """The networks of a modality: those compared (`backbones`), else its one `backbone`."""
        return list(self.backbones.get(modality) or [self.backbone[modality]])

    def out_of_fold(self, modality: str) -> bool:
        """True when the modality's deep job fine-tunes `folds` fold networks per candidate."""
        return self.signature == "probability" or len(self.candidates(modality)) > 1


@dataclass(frozen=True)
class Reproducibility:
    icc: str
    threshold: float
    pairs: list
    source: str  # raters | perturbation (axilla.reproducibility)
    perturbation: dict  # kinds, contours: the mask perturbations of source: perturbation


@dataclass(frozen=True)
class Split:
    method: str
    test_fraction: float
    validation_fraction: float
    column: str
    external: dict | None
    temporal: dict | None


@dataclass(frozen=True)
class TuneLimit:
    folds: int | None
    repeats: int | None


@dataclass(frozen=True)
class Spared:
    """``evaluate.spared``: the operating point set for a training sensitivity, and its bootstrap CIs."""

    sensitivity: float
    bootstraps: int


@dataclass(frozen=True)
class Evaluate:
    readers: dict
    reader_threshold: float
    optimism_bootstraps: int
    spared: Spared
    permutations: int  # permutation negative control: refits on permuted training labels (0 = off)
    sample_size_shrinkage: float  # Riley et al. criterion 1 target shrinkage


@dataclass(frozen=True)
class Review:
    dice_below: float  # a fused mask's Dice to the primary manual mask below this is listed


@dataclass(frozen=True)
class Segment:
    """``segment``: automatic segmentation of 2D views (axilla.segment), off unless enabled."""

    enabled: bool
    views: list  # "MOD_view" keys, e.g. US_tumor, MG_CC
    models: list  # unet | unetpp | deeplabv3
    fusion: str  # mean (of probabilities) | vote (majority of thresholded masks)
    folds: int  # k of the out-of-fold masks of training patients
    size: int  # network input side (pixels)
    width: int  # first-stage channels of every network (DeepLabV3's random encoder too)
    epochs: int
    patience: int  # early stopping on the inner validation split
    val_fraction: float
    lr: float
    batch_size: int
    threshold: float
    encoder: str  # DeepLabV3's ResNet encoder
    encoder_weights: str  # random | imagenet (the weights cache)
    bootstraps: int  # of the metrics' 95 % CIs (0: none)
    gpu: bool
    threads: int
    reproducible: str | bool  # as deep.reproducible
    review: Review


@dataclass(frozen=True)
class Roi:
    """``roi``: where each view's radiomics and deep ROI comes from (axilla.autoroi)."""

    source: dict  # MOD_view -> manual (the primary rater's mask) | auto (the fused segmentation)

    @property
    def auto_views(self) -> list[str]:
        return sorted(k for k, v in self.source.items() if v == "auto")


@dataclass(frozen=True)
class Report:
    title: str | None
    preset: str | None
    primary_model: str | None


@dataclass(frozen=True)
class Model:
    """One entry of ``models``: a feature model (``features``) or a post-fusion model (``fuse``).

    ``select`` is the study's selection settings with this model's overrides already merged.
    """

    name: str
    features: list
    scores: list
    select: dict
    classifier: dict | None
    smote: dict | None
    nomogram: bool
    fuse: list
    meta: str

    @property
    def kind(self) -> str:
        """'fusion' (post-fusion), 'scores' (score fusion: base models' scores join the features)
        or 'features'."""
        return "fusion" if self.fuse else "scores" if self.scores else "features"


@dataclass(frozen=True)
class Study:
    study: str
    seed: int
    manifest: str | None
    clinical: str | None
    outcome: str
    primary_rater: str
    demo: Demo
    views: dict
    validate: Validate
    missing: Missing
    clinical_variables: dict
    blood: Blood
    preprocess: dict  # modality -> Preprocess
    radiomics: Radiomics
    deep: Deep
    reproducibility: Reproducibility
    split: Split
    select: dict
    models: dict  # name -> Model
    tune_limit: TuneLimit
    evaluate: Evaluate
    bundle: bool  # write results/<study>/bundle/ (axilla.bundle)
    apply: dict | None  # {bundle, manifest, clinical, cohort}: score a new cohort with a bundle
    segment: Segment
    roi: Roi
    report: Report

    def models_of(self, *kinds: str) -> list[str]:
        return [m for m, spec in self.models.items() if spec.kind in kinds]


def typed(cls, data: dict):
    """``cls`` from a defaults-filled mapping (e.g. a section a rule sent as JSON); nested
    dataclass fields are built too."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        value = data.get(f.name)
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            value = typed(hint, value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _limited(classifier: dict | None, limit: dict) -> dict | None:
    """``classifier`` with its tuning CV capped by ``tune_limit`` (keys left null: no cap)."""
    tune = (classifier or {}).get("tune")
    if not tune or not any(v is not None for v in limit.values()):
        return classifier
    tune = {} if tune is True else dict(tune)
    for key, cap in limit.items():
        if cap is not None:
            tune[key] = min(tune.get(key, cap), cap)
    return {**classifier, "tune": tune}


def _model(name: str, spec: dict, select: dict, limit: dict) -> Model:
    # A model's own ``select`` replaces the study's (it is not merged into it).
    return Model(name=name, features=list(spec.get("features", [])), scores=list(spec.get("scores", [])),
                 select=spec.get("select") or select, classifier=_limited(spec.get("classifier"), limit),
                 smote=spec.get("smote"), nomogram=spec["nomogram"], fuse=list(spec.get("fuse", [])),
                 meta=spec["meta"])


def build(config: dict) -> Study:
    """The typed settings of a config that passed the schema (defaults filled here)."""
    cfg = with_defaults(config)
    study = typed(Study, {**cfg, "preprocess": {}, "models": {}})
    return dataclasses.replace(
        study,
        preprocess={m: typed(Preprocess, block) for m, block in cfg["preprocess"].items()},
        models={name: _model(name, spec, cfg["select"], cfg["tune_limit"]) for name, spec in cfg["models"].items()},
    )


_A_VIEW = {"MG": "CC", "MRI": "T2", "US": "tumor"}
_MINIMAL = {"study": "defaults", "views": {"US": ["tumor"]}, "models": {"m": {"features": ["clinical"]}}}


def section(name: str, check: bool = True, **values):
    """One section's settings with the schema's defaults, ``values`` overriding them: e.g.
    ``section("evaluate", readers={...})`` or ``section("preprocess.MRI", spacing=[1, 1, 1])``
    (tests, notebooks, scripts of one's own and command lines that call a stage directly).
    ``check=False`` skips the schema check (a rule's job gets a section already checked)."""
    key, _, modality = name.partition(".")
    block = {modality: values} if modality else values
    config = {**_MINIMAL, key: block, **({"views": {modality: [_A_VIEW[modality]]}} if modality else {})}
    if check:
        from .config import check as check_config

        check_config(config, SCHEMA, f"settings '{name}'")
    study = build(config)
    value = getattr(study, key)
    return value[modality] if modality else value


def load(config: dict) -> Study:
    """Settings plus every check that spans keys; raises InputError listing all problems."""
    study = build(config)
    problems = cross_key_problems(study)
    if problems:
        raise InputError(problems)
    return study


# --------------------------------------------------------------------------- cross-key checks


def cross_key_problems(study: Study) -> list[Problem]:
    from .features import blood_config_problems

    problems = _model_problems(study) + _deep_problems(study)
    problems += blood_config_problems({m: {"features": s.features} for m, s in study.models.items()},
                                      study.clinical_variables, study.blood)
    primary = study.report.primary_model
    if primary is not None and primary not in study.models:
        problems.append(Problem("config", f"key 'report.primary_model': '{primary}' is not a model of this "
                                          f"study ({', '.join(study.models)})"))
    problems += segment_problems(study)
    if (study.manifest is None) != (study.clinical is None):
        problems.append(Problem("config", "give both 'manifest' and 'clinical', or neither (demo cohort)"))
    return problems


def _deep_problems(study: Study) -> list[Problem]:
    """A probability signature or a backbone comparison needs networks trained on the outcome."""
    d = study.deep
    oof = [m for m in study.views if d.out_of_fold(m)]
    if not oof or d.weights.get("source") == "finetune":
        return []
    why = "deep.signature: probability" if d.signature == "probability" else f"deep.backbones ({', '.join(oof)})"
    return [Problem("config", f"key 'deep.weights.source': {why} needs fine-tuned networks (source: finetune); "
                              f"a '{d.weights.get('source')}' network's output is not a prediction of node status")]


def _model_problems(study: Study) -> list[Problem]:
    plain = set(study.models_of("features"))
    feature = set(study.models_of("features", "scores"))
    out = []
    for name, spec in study.models.items():
        for base in spec.fuse:
            if base not in feature:
                out.append(Problem("config", f"key 'models.{name}.fuse': '{base}' is not a feature model of this study"))
        for base in spec.scores:
            if base not in plain:
                out.append(Problem("config", f"key 'models.{name}.scores': '{base}' is not a feature model "
                                             "without scores of this study"))
            elif study.models[base].select["steps"][-1:] != ["lasso"]:
                out.append(Problem("config", f"key 'models.{name}.scores': '{base}' has no score: its selection "
                                             "must end in 'lasso'"))
    return out
