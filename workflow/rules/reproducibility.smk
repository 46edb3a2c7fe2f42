rule reproducibility:
    """ICC per radiomics feature between raters (or mask perturbations); keep the reproducible ones."""
    input:
        rules.radiomics_table.output.by_rater,
    output:
        icc=f"{RESULTS}/reproducibility/icc.csv",
        keep=f"{RESULTS}/reproducibility/reproducible_features.csv",
    params:
        settings_text=settings_text(S.reproducibility),
        settings=S.reproducibility,
        primary=PRIMARY,
    log:
        f"{RESULTS}/logs/reproducibility.log",
    benchmark:
        f"{RESULTS}/benchmarks/reproducibility.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=4000, runtime=10),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/reproducibility.py"
