rule select:
    """Selection chain fitted on the training cohort only; the funnel per step."""
    input:
        unpack(feature_inputs),
    output:
        selection=f"{RESULTS}/selection/{{model}}/selection.pkl",
        selected=f"{RESULTS}/selection/{{model}}/selected.csv",
        funnel=f"{RESULTS}/selection/{{model}}/funnel.csv",
    wildcard_constraints:
        model="|".join(FEATURE_MODELS) or "^$",
    params:
        features=lambda wc: MODELS[wc.model]["features"],
        variables=config["clinical_variables"],
        settings=config["select"],
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
