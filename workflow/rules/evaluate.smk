rule evaluate:
    """Per cohort: predictions of every model, AUC with DeLong CI, threshold metrics, calibration, pairwise tests, decision curves."""
    input:
        unpack(lambda wc: {m: f"{RESULTS}/models/{m}/predictions.csv" for m in MODELS}),
    output:
        predictions=[f"{RESULTS}/predictions/{c}.csv" for c in COHORTS],
        metrics=[f"{RESULTS}/metrics/{c}.csv" for c in COHORTS],
        pairwise=[f"{RESULTS}/metrics/{c}_pairwise.csv" for c in COHORTS],
        dca=[f"{RESULTS}/metrics/{c}_dca.csv" for c in COHORTS],
    params:
        cohorts=COHORTS,
    log:
        f"{RESULTS}/logs/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/evaluate.py"
