rule train:
    """The model's classifier (zoo, tuned inside training) on its selected features; predictions
    for every patient, out-of-fold ones (probability and score) for training patients."""
    input:
        unpack(model_inputs),
        selection=f"{RESULTS}/selection/{{model}}/selection.pkl",
    output:
        model=f"{RESULTS}/models/{{model}}/model.pkl",
        predictions=f"{RESULTS}/models/{{model}}/predictions.csv",
    wildcard_constraints:
        model="|".join(PLAIN_MODELS) or "^$",
    params:
        settings_text=lambda wc: settings_text(MODELS[wc.model], S.blood),
        model=lambda wc: MODELS[wc.model],
        variables=S.clinical_variables,
        blood=S.blood,
        seed=SEED,
    log:
        f"{RESULTS}/logs/train/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=4000, runtime=30),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/train.py"


# Score fusion after its base models (see select_scores).
use rule train as train_scores with:
    wildcard_constraints:
        model="|".join(SCORE_MODELS) or "^$",


rule train_fusion:
    """Post-fusion: a meta-classifier (LR or SVM) on base models' out-of-fold probabilities."""
    input:
        unpack(lambda wc: {b: f"{RESULTS}/models/{b}/predictions.csv" for b in MODELS[wc.model].fuse}),
    output:
        model=f"{RESULTS}/models/{{model}}/model.pkl",
        predictions=f"{RESULTS}/models/{{model}}/predictions.csv",
    wildcard_constraints:
        model="|".join(FUSION_MODELS) or "^$",
    params:
        seed=SEED,
        meta=lambda wc: MODELS[wc.model].meta,
    log:
        f"{RESULTS}/logs/train/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=10),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/train_fusion.py"
