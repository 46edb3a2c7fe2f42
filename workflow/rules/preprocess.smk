from axilla.preprocess import rule_extra_args


rule preprocess:
    """One image and all raters' masks: geometry checks, DCE, MG flip, N4, resampling, normalisation, QC."""
    input:
        validated=rules.validate.output.manifest,
    output:
        directory(f"{RESULTS}/preprocess/{{patient}}/{{modality}}_{{view}}"),
    params:
        python=PYTHON,
        image=lambda wc: shlex.quote(image_rows(wc)[0]["image"]),
        masks=lambda wc: " ".join(f"--mask {shlex.quote(f'{r}={m}')}" for r, m in mask_paths(wc).items()),
        settings=lambda wc: shlex.quote(json.dumps(asdict(S.preprocess[wc.modality]))),
        # with validate.<class>: drop, the job checks the validated manifest: an excluded patient's
        # image gets a marker folder instead of being read (axilla.exclusion)
        extra=lambda wc, input: rule_extra_args(IMAGE_ROWS, wc.patient, wc.modality, wc.view, S.preprocess[wc.modality],
                                                input.validated if S.validate.excludes_after_parse else None),
        primary=shlex.quote(PRIMARY),
    log:
        f"{RESULTS}/logs/preprocess/{{patient}}/{{modality}}_{{view}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/preprocess/{{patient}}/{{modality}}_{{view}}.tsv"
    group: PER_IMAGE_GROUP
    # ITK / ANTs use this many threads in the job (N4 and resampling of a 3D image).
    threads: SITE.threads(lambda wc: S.preprocess[wc.modality].threads)
    resources:
        **SITE.fit(mem_mb=2000, runtime=15),
    conda:
        "../../envs/imaging.yaml"
    shell:
        "{params.python} -m axilla.preprocess --image {params.image} {params.masks}"
        " --modality {wildcards.modality} --view {wildcards.view} --settings {params.settings}"
        " {params.extra} --primary {params.primary} --threads {threads} --out {output:q} --log {log:q}"


rule qc_table:
    """Every preprocessed image's QC record in one table; the overlay PNGs stay in the image folders."""
    input:
        [prep_dir(p, k) for k in VIEW_KEYS for p in images_of_view(k)],
    output:
        f"{RESULTS}/qc/preprocess.csv",
    params:
        python=PYTHON,
        base=lambda wc, output: os.path.dirname(os.path.dirname(output[0])),
    log:
        f"{RESULTS}/logs/qc_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/qc_table.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=10),
    conda:
        "../../envs/imaging.yaml"
    shell:
        "{params.python} -m axilla.qc --out {output:q} --base {params.base:q} --log {log:q} {input:q}"
