rule train:
    """Logistic regression on the selected features of one feature set."""
    input:
        unpack(feature_inputs),
        selection=rules.select.output.selection,
    output:
        model=f"{RESULTS}/models/{{model}}/model.pkl",
        predictions=f"{RESULTS}/models/{{model}}/predictions.csv",
        coefficients=f"{RESULTS}/models/{{model}}/coefficients.csv",
    wildcard_constraints:
        model="|".join(FEATURE_MODELS) or "^$",
    params:
        features=lambda wc: MODELS[wc.model]["features"],
        variables=config["clinical_variables"],
        seed=SEED,
    log:
        f"{RESULTS}/logs/train/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/train.py"


rule train_fusion:
    """Post-fusion: a meta logistic regression on base models' out-of-fold probabilities."""
    input:
        unpack(lambda wc: {b: f"{RESULTS}/models/{b}/predictions.csv" for b in MODELS[wc.model]["fuse"]}),
    output:
        model=f"{RESULTS}/models/{{model}}/model.pkl",
        predictions=f"{RESULTS}/models/{{model}}/predictions.csv",
        coefficients=f"{RESULTS}/models/{{model}}/coefficients.csv",
    wildcard_constraints:
        model="|".join(FUSION_MODELS) or "^$",
    params:
        seed=SEED,
    log:
        f"{RESULTS}/logs/train/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/train_fusion.py"
