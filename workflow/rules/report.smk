from axilla.report import optional_paths

report: "../report/workflow.rst"


rule rulegraph:
    """The rule graph of this very run (config included), as DOT, for the report."""
    output:
        f"{RESULTS}/report/rulegraph.dot",
    params:
        snakefile=workflow.main_snakefile,
        config=config,
        # Snakemake's own interpreter draws the graph: the stats env has no Snakemake
        python=sys.executable,
    log:
        f"{RESULTS}/logs/rulegraph.log",
    benchmark:
        f"{RESULTS}/benchmarks/rulegraph.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=1000, runtime=5),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/rulegraph.py"


rule report:
    """One self-contained HTML report of the study (sections fed by absent optional inputs say so)."""
    input:
        metrics=rules.evaluate.output.metrics,
        predictions=rules.evaluate.output.predictions,
        pairwise=rules.evaluate.output.pairwise,
        dca=rules.evaluate.output.dca,
        readers=rules.evaluate.output.readers,
        readers_vs_models=rules.evaluate.output.readers_vs_models,
        reader_pairs=rules.evaluate.output.reader_pairs,
        availability=rules.evaluate.output.availability,
        split=rules.split.output[0],
        qc=rules.validate.output.qc,
        qc_table=rules.qc_table.output[0],
        missing=rules.validate.output.missing,
        # the patients validation excluded, by problem class: the flow diagram's exclusion box
        excluded=rules.validate.output.excluded,
        # the views each analysed patient has: the flow diagram's "kept without" lines
        views_present=rules.validate.output.availability,
        clinical=rules.validate.output.clinical,
        validated_manifest=rules.validate.output.manifest,
        icc=rules.reproducibility.output.icc,
        reproducible=rules.reproducibility.output.keep,
        deep_weights=rules.deep_table.output.provenance,
        # segment.enabled: the segmentation tables (overlays are found beside them)
        segmentation=[f"{RESULTS}/segmentation/metrics.csv"] if S.segment.enabled else [],
        segmentation_raters=[f"{RESULTS}/segmentation/raters.csv"] if S.segment.enabled else [],
        segmentation_review=[f"{RESULTS}/segmentation/review.csv"] if S.segment.enabled else [],
        funnel=[f"{RESULTS}/selection/{m}/funnel.csv" for m in FEATURE_MODELS],
        coefficients=[f"{RESULTS}/models/{m}/coefficients.csv" for m in MODELS],
        formula=[f"{RESULTS}/models/{m}/formula.txt" for m in MODELS],
        importance=[f"{RESULTS}/models/{m}/importance.csv" for m in MODELS],
        odds_ratios=[f"{RESULTS}/models/{m}/odds_ratios.csv" for m in FEATURE_MODELS],
        gradcam=[f"{RESULTS}/deep/gradcam/{k}" for k in VIEW_KEYS],
        optimism=[f"{RESULTS}/models/{m}/optimism.csv" for m in OPTIMISM_MODELS],
        spared=rules.spared.output.spared,
        interventions=rules.spared.output.interventions,
        sample_size=rules.sample_size.output[0],
        permutation=[f"{RESULTS}/models/{m}/permutation.csv" for m in PERMUTATION_MODELS],
        # declared so the report waits for them (read through params.optional)
        nomogram=[f"{RESULTS}/models/{m}/nomogram.png" for m in NOMOGRAM_MODELS],
        nomo_scores=[f"{RESULTS}/models/{m}/nomo_scores.csv" for m in NOMOGRAM_MODELS],
        nomo_risk=[f"{RESULTS}/models/{m}/nomo_risk_groups.csv" for m in NOMOGRAM_MODELS],
        rulegraph=rules.rulegraph.output[0],
        # bundle: true: the frozen study, cited (its manifest's hash) by CLEAR 57 / METRICS 30
        bundle=[f"{RESULTS}/bundle"] if S.bundle else [],
        # the preset's fidelity table, when it has one (its deviations head the summary)
        fidelity=FIDELITY,
        manifest=MANIFEST,
        clinical_raw=CLINICAL,
    output:
        report(f"{RESULTS}/report.html", caption="../report/study_report.rst", category="Study report"),
        # CLEAR and METRICS filled from this run (axilla.report.checklist)
        clear_csv=f"{RESULTS}/report/checklist/clear.csv",
        metrics_csv=f"{RESULTS}/report/checklist/metrics.csv",
        score_json=f"{RESULTS}/report/checklist/metrics_score.json",
    params:
        config=config,
        cohorts=COHORTS,
        models=list(MODELS),
        # Sections of other stages (LASSO path, nomogram): rendered when these files exist,
        # otherwise marked as not produced.
        optional=optional_paths(RESULTS, list(MODELS), COHORTS),
        benchmarks=f"{RESULTS}/benchmarks",
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=10),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/report.py"
