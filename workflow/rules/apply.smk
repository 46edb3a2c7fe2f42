# apply: a new cohort scored with a frozen study's bundle (axilla.apply). Validation, preprocessing,
# radiomics and the deep/radiomics tables are the study's own rules, run with the bundled settings;
# nothing here fits anything: networks, models and cut-offs are read from the bundle.
BUNDLE = APPLY["bundle"]
APPLY_COHORT = APPLY["cohort"]

# the bundled network, never the study's training (rules/deep.smk)
ruleorder: apply_deep > deep


def bundled(path):
    return os.path.join(BUNDLE, path)


def apply_model_inputs(wildcards):
    """A feature model's tables of the new cohort, the bundled ICC filter and its base models' scores."""
    sources = model_feature_sources(wildcards.model)
    inputs = {"clinical": rules.validate.output.clinical, "split": rules.apply_split.output[0],
              "availability": rules.validate.output.availability}
    if "radiomics" in sources:
        inputs["radiomics"] = rules.radiomics_table.output.wide
        inputs["reproducible"] = bundled("reproducible_features.csv")
    if "deep" in sources:
        inputs["deep"] = rules.deep_table.output.table
    for base in MODELS[wildcards.model].scores:
        inputs[f"score_{base}"] = f"{RESULTS}/models/{base}/predictions.csv"
    return inputs


rule apply_check:
    """Every bundled file against the sha256 its manifest records; software differing from the study's."""
    input:
        bundled("manifest.json"),
    output:
        f"{RESULTS}/apply/bundle_check.json",
    params:
        bundle=BUNDLE,
    log:
        f"{RESULTS}/logs/apply/check.log",
    benchmark:
        f"{RESULTS}/benchmarks/apply/check.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=1000, runtime=5),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/apply_check.py"


rule apply_split:
    """The whole new cohort as one cohort: nobody is trained on."""
    input:
        rules.validate.output.clinical,
    output:
        f"{RESULTS}/split/split.csv",
    params:
        outcome=S.outcome,
        cohort=APPLY_COHORT,
    log:
        f"{RESULTS}/logs/split.log",
    benchmark:
        f"{RESULTS}/benchmarks/split.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=1000, runtime=5),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/apply_split.py"


rule apply_deep:
    """Deep features of one modality × view with the study's bundled network (not refitted)."""
    input:
        preps=lambda wc: [prep_dir(p, f"{wc.modality}_{wc.view}") for p in images_of_view(f"{wc.modality}_{wc.view}")],
        network=bundled("deep/{modality}_{view}.pt"),
        study=bundled("deep/{modality}_{view}.json"),
        check=rules.apply_check.output[0],
    output:
        features=f"{RESULTS}/deep/{{modality}}_{{view}}.csv",
        provenance=f"{RESULTS}/deep/{{modality}}_{{view}}.json",
    params:
        settings_text=settings_text(S.deep),
        settings=S.deep,
        primary_rater=PRIMARY,
    log:
        f"{RESULTS}/logs/deep/{{modality}}_{{view}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/deep/{{modality}}_{{view}}.tsv"
    threads: SITE.threads(S.deep.threads)
    resources:
        **SITE.fit(mem_mb=4000, runtime=30, gpu=1 if S.deep.gpu else 0),
    conda:
        "../../envs/deep.yaml"
    script:
        "../scripts/apply_deep.py"


rule apply_model:
    """The study's fitted feature model (imputer, encoder, selection chain, classifier) on the new cohort."""
    input:
        unpack(apply_model_inputs),
        model=bundled("models/{model}/model.pkl"),
        check=rules.apply_check.output[0],
    output:
        f"{RESULTS}/models/{{model}}/predictions.csv",
    wildcard_constraints:
        model="|".join(PLAIN_MODELS) or "^$",
    params:
        settings_text=settings_text(S.blood),
        features=lambda wc: MODELS[wc.model].features,
        variables=S.clinical_variables,
        blood=S.blood,
    log:
        f"{RESULTS}/logs/apply/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/apply/{{model}}.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=4000, runtime=10),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/apply_model.py"


# Score fusion after its base models (as select_scores / train_scores in a study).
use rule apply_model as apply_model_scores with:
    wildcard_constraints:
        model="|".join(SCORE_MODELS) or "^$",


rule apply_fusion:
    """The study's post-fusion meta-classifier on the new cohort's base model probabilities."""
    input:
        unpack(lambda wc: {b: f"{RESULTS}/models/{b}/predictions.csv" for b in MODELS[wc.model].fuse}),
        model=bundled("models/{model}/model.pkl"),
        check=rules.apply_check.output[0],
    output:
        f"{RESULTS}/models/{{model}}/predictions.csv",
    wildcard_constraints:
        model="|".join(FUSION_MODELS) or "^$",
    params:
        bases=lambda wc: MODELS[wc.model].fuse,
    log:
        f"{RESULTS}/logs/apply/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/apply/{{model}}.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=10),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/apply_fusion.py"


rule apply_evaluate:
    """Predictions of every model and all metrics of the new cohort at the study's training cut-offs."""
    input:
        models=[f"{RESULTS}/models/{m}/predictions.csv" for m in MODELS],
        cutoffs=bundled("cutoffs.csv"),
        check=rules.apply_check.output[0],
    output:
        predictions=f"{RESULTS}/predictions/{APPLY_COHORT}.csv",
        metrics=f"{RESULTS}/metrics/{APPLY_COHORT}.csv",
        pairwise=f"{RESULTS}/metrics/{APPLY_COHORT}_pairwise.csv",
        dca=f"{RESULTS}/metrics/{APPLY_COHORT}_dca.csv",
    params:
        models=list(MODELS),
        cohort=APPLY_COHORT,
        allow_missing=S.validate.missing_view == "allow",
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
        "../scripts/apply_evaluate.py"


rule apply_report:
    """A short HTML report: the frozen study, the new cohort, its metrics at the study's cut-offs."""
    input:
        check=rules.apply_check.output[0],
        metrics=rules.apply_evaluate.output.metrics,
        predictions=rules.apply_evaluate.output.predictions,
    output:
        f"{RESULTS}/report.html",
    params:
        cohort=APPLY_COHORT,
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=1000, runtime=5),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/apply_report.py"
