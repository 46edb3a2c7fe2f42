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
        missing=f"{RESULTS}/validate/missing.csv",
        excluded=f"{RESULTS}/validate/excluded.csv",
        availability=f"{RESULTS}/validate/availability.csv",
    params:
        settings_text=settings_text(S.validate, S.split, S.deep),
        views=VIEWS,
        primary_rater=PRIMARY,
        outcome=S.outcome,
        variables=S.clinical_variables,
        settings=S.validate,
        radiomics_params={m: S.radiomics.params[m] for m in VIEWS},
        # apply (a frozen study): no split, so no class counts to check for one
        split=None if APPLY else S.split,
        # 2D spacing fallback and mask alignment tolerance: validation applies preprocessing's rule.
        preprocess=S.preprocess,
        # each modality's network and its pretrained weights (a missing cache file stops here)
        deep=None if APPLY else S.deep,  # apply: the bundle's networks, checked by apply_check
        folds=S.select["lasso"]["folds"],
        # roi.source: auto views, whose images may have no manual mask (only where set: no rerun otherwise)
        **({"auto_views": S.roi.auto_views} if S.roi.auto_views else {}),
        seed=SEED,
        # every problem as a table when validation fails (not an output: a failed job keeps it)
        problems=f"{RESULTS}/validate/problems.csv",
    log:
        f"{RESULTS}/logs/validate.log",
    benchmark:
        f"{RESULTS}/benchmarks/validate.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=20),
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/validate.py"
