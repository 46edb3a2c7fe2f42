rule report:
    """One self-contained HTML report of the study."""
    input:
        metrics=rules.evaluate.output.metrics,
        predictions=rules.evaluate.output.predictions,
        pairwise=rules.evaluate.output.pairwise,
        split=rules.split.output[0],
        qc=rules.validate.output.qc,
        clinical=rules.validate.output.clinical,
        icc=rules.reproducibility.output.icc,
        reproducible=rules.reproducibility.output.keep,
        radiomics=rules.radiomics_table.output.wide,
        deep_weights=rules.deep_table.output.provenance,
        funnels=[f"{RESULTS}/selection/{m}/funnel.csv" for m in FEATURE_MODELS],
        coefficients=[f"{RESULTS}/models/{m}/coefficients.csv" for m in MODELS],
        manifest=MANIFEST,
        clinical_raw=CLINICAL,
    output:
        f"{RESULTS}/report.html",
    params:
        config=config,
        cohorts=COHORTS,
        models=list(MODELS),
        feature_models=FEATURE_MODELS,
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/report.py"
