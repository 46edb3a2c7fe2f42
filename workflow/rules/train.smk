# Feature models with a logistic-regression classifier that ask for a nomogram.
NOMOGRAM_MODELS = [m for m in FEATURE_MODELS if MODELS[m].get("nomogram")]


rule train:
    """The model's classifier (zoo, tuned inside training) on its selected features; OOF predictions and scores;
    score formulas, feature importance and (clinical models) odds ratios from the training cohort."""
    input:
        unpack(model_inputs),
        selection=rules.select.output.selection,
    output:
        model=f"{RESULTS}/models/{{model}}/model.pkl",
        predictions=f"{RESULTS}/models/{{model}}/predictions.csv",
        coefficients=f"{RESULTS}/models/{{model}}/coefficients.csv",
        summary=f"{RESULTS}/models/{{model}}/summary.json",
        formula=f"{RESULTS}/models/{{model}}/formula.txt",
        importance=f"{RESULTS}/models/{{model}}/importance.csv",
        odds_ratios=f"{RESULTS}/models/{{model}}/odds_ratios.csv",
    wildcard_constraints:
        model="|".join(FEATURE_MODELS) or "^$",
    params:
        features=lambda wc: MODELS[wc.model]["features"],
        variables=config["clinical_variables"],
        blood=config["blood"],
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
    """Post-fusion: a meta-classifier (LR or SVM) on base models' out-of-fold probabilities."""
    input:
        unpack(lambda wc: {b: f"{RESULTS}/models/{b}/predictions.csv" for b in MODELS[wc.model]["fuse"]}),
    output:
        model=f"{RESULTS}/models/{{model}}/model.pkl",
        predictions=f"{RESULTS}/models/{{model}}/predictions.csv",
        coefficients=f"{RESULTS}/models/{{model}}/coefficients.csv",
        formula=f"{RESULTS}/models/{{model}}/formula.txt",
        importance=f"{RESULTS}/models/{{model}}/importance.csv",
    wildcard_constraints:
        model="|".join(FUSION_MODELS) or "^$",
    params:
        seed=SEED,
        meta=lambda wc: MODELS[wc.model].get("meta", "lr"),
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


rule nomogram:
    """Nomogram (points per predictor, total points → probability) of a logistic-regression model."""
    input:
        model=rules.train.output.model,
    output:
        table=f"{RESULTS}/models/{{model}}/nomogram.csv",
        figure=f"{RESULTS}/models/{{model}}/nomogram.png",
    wildcard_constraints:
        model="|".join(NOMOGRAM_MODELS) or "^$",
    log:
        f"{RESULTS}/logs/train/{{model}}_nomogram.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}_nomogram.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/nomogram.py"
