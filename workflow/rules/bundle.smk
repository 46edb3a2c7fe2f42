# Defined with bundle: true only, so a normal study's rule graph is unchanged.
if S.bundle:

    rule bundle:
        """The frozen study: settings, parameter files, networks, fitted models and cut-offs, hashed, to score new patients without refitting."""
        input:
            radiomics=[S.radiomics.params[m] for m in VIEWS],
            reproducible=rules.reproducibility.output.keep,
            networks=[f"{RESULTS}/deep/{k}.pt" for k in VIEW_KEYS],
            deep=[f"{RESULTS}/deep/{k}.json" for k in VIEW_KEYS],
            models=[f"{RESULTS}/models/{m}/model.pkl" for m in MODELS],
            train=f"{RESULTS}/predictions/train.csv",
            manifest=MANIFEST,
            clinical=CLINICAL,
            validated=rules.validate.output.manifest,
        output:
            directory(f"{RESULTS}/bundle"),
        params:
            config=config,
            modalities=list(VIEWS),
            views=VIEW_KEYS,
            models=list(MODELS),
        log:
            f"{RESULTS}/logs/bundle.log",
        benchmark:
            f"{RESULTS}/benchmarks/bundle.tsv"
        threads: 1
        resources:
            **SITE.fit(mem_mb=2000, runtime=10),
        conda:
            "../../envs/stats.yaml"
        script:
            "../scripts/bundle.py"
