rule select:
    """Selection chain fitted on the training cohort only; the funnel per step."""
    input:
        unpack(model_inputs),
    output:
        selection=f"{RESULTS}/selection/{{model}}/selection.pkl",
        selected=f"{RESULTS}/selection/{{model}}/selected.csv",
        funnel=f"{RESULTS}/selection/{{model}}/funnel.csv",
        lasso_path=f"{RESULTS}/selection/{{model}}/lasso_path.csv",
        lasso_cv=f"{RESULTS}/selection/{{model}}/lasso_cv.csv",
    wildcard_constraints:
        model="|".join(PLAIN_MODELS) or "^$",
    params:
        settings_text=lambda wc: settings_text(MODELS[wc.model], S.blood),
        model=lambda wc: MODELS[wc.model],
        variables=S.clinical_variables,
        blood=S.blood,
        impute=S.missing.strategy,
        seed=SEED,
    log:
        f"{RESULTS}/logs/select/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/select/{{model}}.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=4000, runtime=30),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/select.py"


# Score fusion: the same selection, for models whose features include base models' scores. A rule
# of its own, so the rule graph reads select -> train -> select_scores -> train_scores (no loop).
use rule select as select_scores with:
    wildcard_constraints:
        model="|".join(SCORE_MODELS) or "^$",


rule selection_funnel:
    """Every feature model's funnel in one table (the report's funnel table)."""
    input:
        **{m: f"{RESULTS}/selection/{m}/funnel.csv" for m in FEATURE_MODELS},
    output:
        f"{RESULTS}/selection/funnel.csv",
    log:
        f"{RESULTS}/logs/select/funnel.log",
    benchmark:
        f"{RESULTS}/benchmarks/select/funnel.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=1000, runtime=5),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/selection_funnel.py"
