rule split:
    """Patient-level cohorts: training, internal hold-out, external."""
    input:
        rules.validate.output.clinical,
    output:
        f"{RESULTS}/split/split.csv",
    params:
        settings_text=settings_text(S.split),
        settings=S.split,
        outcome=S.outcome,
        seed=SEED,
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
        "../scripts/split.py"
