def _pre_image(wc):
    """DCE subtraction with separate phase images: the same patient's pre-contrast view."""
    dce = config["preprocess"].get(wc.modality, {}).get("dce") or {}
    pre_view = dce.get("pre_view")
    if not (dce.get("subtract") and pre_view and wc.view.startswith("DCE") and wc.view != pre_view):
        return ""
    rows = IMAGES[(IMAGES.patient_id == wc.patient) & (IMAGES.modality == wc.modality) & (IMAGES.view == pre_view)]
    if rows.empty:
        raise ValueError(f"preprocess.{wc.modality}.dce.pre_view {pre_view}: patient {wc.patient} has no such "
                         "image (list the view under 'views')")
    return "--pre-image " + shlex.quote(rows.image.iloc[0])


def _pixel_spacing(wc):
    """Per-row 2D spacing from an optional manifest column `pixel_spacing` ('x,y' in mm)."""
    if "pixel_spacing" not in IMAGES.columns:
        return ""
    value = image_rows(wc).pixel_spacing.iloc[0]
    return "" if pd.isna(value) or str(value).strip() == "" else "--pixel-spacing " + shlex.quote(str(value))


rule preprocess:
    """One image and all raters' masks: geometry checks, DCE, MG flip, N4, resampling, normalisation, QC."""
    input:
        validated=rules.validate.output.manifest,
    output:
        directory(f"{RESULTS}/preprocess/{{patient}}/{{modality}}_{{view}}"),
    params:
        python=PYTHON,
        image=lambda wc: shlex.quote(image_rows(wc).image.iloc[0]),
        masks=lambda wc: " ".join(f"--mask {shlex.quote(f'{r}={m}')}" for r, m in mask_paths(wc).items()),
        settings=lambda wc: shlex.quote(json.dumps(config["preprocess"].get(wc.modality, {}))),
        extra=lambda wc: " ".join(filter(None, [_pixel_spacing(wc), _pre_image(wc)])),
        primary=shlex.quote(PRIMARY),
    log:
        f"{RESULTS}/logs/preprocess/{{patient}}/{{modality}}_{{view}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/preprocess/{{patient}}/{{modality}}_{{view}}.tsv"
    # ITK / ANTs use this many threads in the job (N4 and resampling of a 3D image).
    threads: lambda wc: config["preprocess"].get(wc.modality, {}).get("threads", 1)
    resources:
        mem_mb=2000,
        runtime=15,
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
        base=RESULTS,
    log:
        f"{RESULTS}/logs/qc_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/qc_table.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/imaging.yaml"
    shell:
        "{params.python} -m axilla.qc --out {output:q} --base {params.base:q} --log {log:q} {input:q}"
