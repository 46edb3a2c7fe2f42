rule preprocess:
    """One image and all raters' masks: N4 (MRI), resampling, normalisation."""
    input:
        validated=rules.validate.output.manifest,
    output:
        directory(f"{RESULTS}/preprocess/{{patient}}/{{modality}}_{{view}}"),
    params:
        python=PYTHON,
        image=lambda wc: shlex.quote(image_rows(wc).image.iloc[0]),
        masks=lambda wc: " ".join(f"--mask {shlex.quote(f'{r}={m}')}" for r, m in mask_paths(wc).items()),
        settings=lambda wc: shlex.quote(json.dumps(config["preprocess"].get(wc.modality, {}))),
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
    shell:
        "{params.python} -m axilla.preprocess --image {params.image} {params.masks}"
        " --modality {wildcards.modality} --view {wildcards.view} --settings {params.settings}"
        " --threads {threads} --out {output:q} --log {log:q}"
