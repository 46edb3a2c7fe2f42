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
        features=lambda wc: MODELS[wc.model].features,
        variables=S.clinical_variables,
        blood=S.blood,
        n_boot=S.evaluate.optimism_bootstraps,
        seed=SEED,
    log:
        f"{RESULTS}/logs/optimism/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/optimism/{{model}}.tsv"
    threads: SITE.threads(4)
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
