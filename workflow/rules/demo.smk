if USE_DEMO:

    rule demo:
        """Synthesise the demo cohort: images, masks from raters A/B/A2, clinical table."""
        output:
            manifest=MANIFEST,
            clinical=CLINICAL,
        params:
            outdir=lambda wildcards, output: os.path.dirname(output.manifest),
            n_patients=S.demo.n_patients,
            rater_fraction=S.demo.rater_fraction,
            seed=SEED,
            dce_phases=DEMO_DCE_PHASES,
            missing=S.demo.missing,
        log:
            f"{RESULTS}/logs/demo.log",
        benchmark:
            f"{RESULTS}/benchmarks/demo.tsv"
        threads: SITE.threads(8)  # patients rendered in parallel (capped at --cores, and at a SLURM node's CPUs)
        resources:
            **SITE.fit(mem_mb=2000, runtime=20),
        conda:
            "../../envs/imaging.yaml"
        script:
            "../scripts/demo.py"
