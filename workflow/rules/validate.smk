rule validate:
    """Check manifest, clinical table, files and image/mask geometry before any compute."""
    input:
        manifest=MANIFEST,
        clinical=CLINICAL,
        raw=raw_files,
    output:
        manifest=f"{RESULTS}/validate/manifest.csv",
        clinical=f"{RESULTS}/validate/clinical.csv",
        qc=f"{RESULTS}/validate/qc.csv",
    params:
        views=VIEWS,
        primary_rater=PRIMARY,
        outcome=config["outcome"],
        variables=config["clinical_variables"],
    log:
        f"{RESULTS}/logs/validate.log",
    benchmark:
        f"{RESULTS}/benchmarks/validate.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/validate.py"
