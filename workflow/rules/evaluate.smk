READERS = S.evaluate.readers
OPTIMISM_MODELS = FEATURE_MODELS if S.evaluate.optimism_bootstraps > 0 else []


rule evaluate:
    """Per cohort: predictions of every model, AUC with DeLong CI, threshold metrics, calibration, pairwise tests, decision curves, readers."""
    input:
        # a list, not named inputs: a model may be called anything, e.g. "clinical"
        models=[f"{RESULTS}/models/{m}/predictions.csv" for m in MODELS],
        reader_table=CLINICAL if READERS else [],
        availability=rules.validate.output.availability,
    output:
        predictions=[f"{RESULTS}/predictions/{c}.csv" for c in COHORTS],
        metrics=[
            report(f"{RESULTS}/metrics/{c}.csv", caption="../report/metrics.rst", category="Evaluation",
                   labels={"table": "metrics", "cohort": c})
            for c in COHORTS
        ],
        pairwise=[
            report(f"{RESULTS}/metrics/{c}_pairwise.csv", caption="../report/pairwise.rst", category="Evaluation",
                   labels={"table": "pairwise", "cohort": c})
            for c in COHORTS
        ],
        dca=[
            report(f"{RESULTS}/metrics/{c}_dca.csv", caption="../report/dca.rst", category="Evaluation",
                   labels={"table": "decision curve", "cohort": c})
            for c in COHORTS
        ],
        readers=[f"{RESULTS}/metrics/{c}_readers.csv" for c in COHORTS] if READERS else [],
        readers_vs_models=[f"{RESULTS}/metrics/{c}_readers_vs_models.csv" for c in COHORTS] if READERS else [],
        reader_pairs=[f"{RESULTS}/metrics/{c}_reader_pairs.csv" for c in COHORTS] if READERS else [],
        availability=f"{RESULTS}/metrics/availability.csv",
    params:
        settings_text=settings_text(S.evaluate),
        models=list(MODELS),
        # validate.missing_view: allow: models score the patients having their views
        allow_missing=S.validate.missing_view == "allow",
        cohorts=COHORTS,
        settings=S.evaluate,
    log:
        f"{RESULTS}/logs/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=10),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/evaluate.py"


rule optimism:
    """Harrell bootstrap optimism-corrected training AUC: the whole feature model refitted per resample."""
    input:
        # with its base models' scores: a score-fusion model is refitted on them as given (out-of-fold)
        unpack(model_inputs),
        selection=f"{RESULTS}/selection/{{model}}/selection.pkl",
    output:
        f"{RESULTS}/models/{{model}}/optimism.csv",
    wildcard_constraints:
        model="|".join(FEATURE_MODELS) or "^$",
    params:
        settings_text=settings_text(S.blood),
        features=lambda wc: MODELS[wc.model].features,
        variables=S.clinical_variables,
        blood=S.blood,
        n_boot=S.evaluate.optimism_bootstraps,
        seed=SEED,
    log:
        f"{RESULTS}/logs/optimism/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/optimism/{{model}}.tsv"
    threads: SITE.threads(resample_threads(S.evaluate.optimism_bootstraps))
    resources:
        **SITE.fit(mem_mb=4000, runtime=60),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/optimism.py"


rule nomo_risk:
    """Per-patient Nomo-score (total nomogram points) of a model with a nomogram, the training cohort's Youden cut-off on it, and low / high risk groups of every cohort with their observed metastasis rate."""
    input:
        unpack(interpret_inputs),
    output:
        scores=f"{RESULTS}/models/{{model}}/nomo_scores.csv",
        groups=f"{RESULTS}/models/{{model}}/nomo_risk_groups.csv",
    wildcard_constraints:
        model="|".join(NOMOGRAM_MODELS) or "^$",
    params:
        settings_text=lambda wc: settings_text(MODELS[wc.model], S.blood),
        model=lambda wc: MODELS[wc.model],
        variables=S.clinical_variables,
        blood=S.blood,
        cohorts=COHORTS,
    log:
        f"{RESULTS}/logs/evaluate/{{model}}_nomo_risk.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{model}}_nomo_risk.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=1000, runtime=5),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/nomo_risk.py"


rule spared:
    """Surgery spared per model and held-out cohort at the training cut-offs for a target sensitivity
    and Youden's, with bootstrap CIs; the net reduction in interventions beside the decision curve."""
    input:
        models=[f"{RESULTS}/models/{m}/predictions.csv" for m in MODELS],
        cohorts=rules.evaluate.output.predictions,
    output:
        spared=f"{RESULTS}/metrics/spared.csv",
        interventions=[f"{RESULTS}/metrics/{c}_interventions.csv" for c in COHORTS],
    params:
        settings_text=settings_text(S.evaluate.spared),
        models=list(MODELS),
        cohorts=COHORTS,
        settings=S.evaluate.spared,
        seed=SEED,
    log:
        f"{RESULTS}/logs/evaluate/spared.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/spared.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/spared.py"


rule sample_size:
    """Riley et al. minimum training sample size per model, for its candidate and its selected predictor parameters."""
    input:
        models=[f"{RESULTS}/models/{m}/model.pkl" for m in MODELS],
        predictions=[f"{RESULTS}/models/{m}/predictions.csv" for m in MODELS],
    output:
        f"{RESULTS}/metrics/sample_size.csv",
    params:
        models=list(MODELS),
        shrinkage=S.evaluate.sample_size_shrinkage,
    log:
        f"{RESULTS}/logs/evaluate/sample_size.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/sample_size.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/sample_size.py"


rule permutation:
    """Permutation negative control of a feature model: the whole procedure refitted on permuted training labels."""
    input:
        unpack(model_inputs),
        selection=f"{RESULTS}/selection/{{model}}/selection.pkl",
        predictions=f"{RESULTS}/models/{{model}}/predictions.csv",
        # score fusion: its base models' scores from the same permutations
        base_permutations=lambda wc: [f"{RESULTS}/models/{b}/permutation_predictions.csv" for b in MODELS[wc.model].scores],
    output:
        **permutation_outputs(f"{RESULTS}/models/{{model}}"),
    wildcard_constraints:
        model="|".join(m for m in PLAIN_MODELS if m in PERMUTATION_MODELS) or "^$",
    params:
        settings_text=settings_text(S.blood),
        features=lambda wc: MODELS[wc.model].features,
        bases=lambda wc: MODELS[wc.model].scores,
        variables=S.clinical_variables,
        blood=S.blood,
        n=S.evaluate.permutations,
        need_oof=lambda wc: fused_by_another(wc.model),
        seed=SEED,
    log:
        f"{RESULTS}/logs/permutation/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/permutation/{{model}}.tsv"
    threads: SITE.threads(resample_threads(S.evaluate.permutations))
    resources:
        **SITE.fit(mem_mb=4000, runtime=60),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/permutation.py"


# Score fusion after its base models' permutations (the graph of rules keeps no loop).
use rule permutation as permutation_scores with:
    wildcard_constraints:
        model="|".join(m for m in SCORE_MODELS if m in PERMUTATION_MODELS) or "^$",


rule permutation_fusion:
    """Permutation negative control of a post-fusion model: its meta-classifier refitted on each permutation of its base models."""
    input:
        split=rules.split.output[0],
        predictions=f"{RESULTS}/models/{{model}}/predictions.csv",
        base_permutations=lambda wc: [f"{RESULTS}/models/{b}/permutation_predictions.csv" for b in MODELS[wc.model].fuse],
    output:
        **permutation_outputs(f"{RESULTS}/models/{{model}}"),
    wildcard_constraints:
        model="|".join(m for m in FUSION_MODELS if m in PERMUTATION_MODELS) or "^$",
    params:
        bases=lambda wc: MODELS[wc.model].fuse,
        meta=lambda wc: MODELS[wc.model].meta,
        n=S.evaluate.permutations,
        need_oof=lambda wc: fused_by_another(wc.model),
        seed=SEED,
    log:
        f"{RESULTS}/logs/permutation/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/permutation/{{model}}.tsv"
    # a meta-classifier refit takes milliseconds: worker processes never pay for themselves
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=30),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/permutation_fusion.py"
