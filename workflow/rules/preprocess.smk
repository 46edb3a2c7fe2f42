rule preprocess:
    """One image and all raters' masks: N4 (MRI), resampling, normalisation."""
    input:
        raw=raw_files,
        validated=rules.validate.output.manifest,
    output:
        directory(f"{RESULTS}/preprocess/{{patient}}/{{modality}}_{{view}}"),
    params:
        image=lambda wc: image_rows(wc).image.iloc[0],
        masks=mask_paths,
        settings=lambda wc: config["preprocess"].get(wc.modality, {}),
    log:
        f"{RESULTS}/logs/preprocess/{{patient}}/{{modality}}_{{view}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/preprocess/{{patient}}/{{modality}}_{{view}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/preprocess.py"
