rule select:
    """Selection chain fitted on the training cohort only; the funnel per step."""
    input:
        unpack(model_inputs),
    output:
        selection=f"{RESULTS}/selection/{{model}}/selection.pkl",
        selected=f"{RESULTS}/selection/{{model}}/selected.csv",
        funnel=f"{RESULTS}/selection/{{model}}/funnel.csv",
        odds_ratios=f"{RESULTS}/selection/{{model}}/odds_ratios.csv",
        lasso_path=f"{RESULTS}/selection/{{model}}/lasso_path.csv",
        lasso_cv=f"{RESULTS}/selection/{{model}}/lasso_cv.csv",
    wildcard_constraints:
        model="|".join(FEATURE_MODELS) or "^$",
    params:
        features=lambda wc: MODELS[wc.model]["features"],
        spec=lambda wc: MODELS[wc.model],
        variables=config["clinical_variables"],
        blood=config["blood"],
        settings=config["select"],
        impute=config["missing"]["strategy"],
        seed=SEED,
    log:
        f"{RESULTS}/logs/select/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/select/{{model}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/select.py"


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
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/selection_funnel.py"
