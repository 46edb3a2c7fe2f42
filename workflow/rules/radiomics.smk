from axilla.autoroi import radiomics_args as radiomics_auto_args


rule radiomics:
    """pyradiomics on one preprocessed image, for every rater's mask (and peritumoral ring) of it."""
    input:
        prep=lambda wc: prep_dir(wc.patient, f"{wc.modality}_{wc.view}"),
        params=radiomics_params,
        # roi.source: auto: the view's automatic masks (axilla.autoroi)
        auto=segmentation_of,
        # reproducibility.perturbation.kinds has ensemble: the segmentation networks' masks as raters
        ensemble=ensemble_of,
    output:
        f"{RESULTS}/radiomics/{{patient}}/{{modality}}_{{view}}.csv",
    params:
        python=PYTHON,
        min_roi=lambda wc: S.preprocess[wc.modality].min_roi_voxels,
        # only where used, so a study without them keeps its recorded params and reruns nothing
        **({"perturb": perturb_args} if PERTURB else {}),
        **({"auto": lambda wc, input: radiomics_auto_args(input.auto, wc.patient, S.preprocess[wc.modality].ring_mm)}
           if AUTO_VIEWS else {}),
    log:
        f"{RESULTS}/logs/radiomics/{{patient}}/{{modality}}_{{view}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/radiomics/{{patient}}/{{modality}}_{{view}}.tsv"
    threads: 1
    group: PER_IMAGE_GROUP
    # Run each image's radiomics as soon as it is preprocessed, so few jobs wait in the ready set.
    priority: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=15),
    conda:
        "../../envs/imaging.yaml"
    shell:
        "{params.python} -m axilla.radiomics --prep {input.prep:q} --params {input.params:q}"
        " --modality {wildcards.modality} --view {wildcards.view} --min-roi-voxels {params.min_roi}"
        " --threads {threads} --out {output:q} --log {log:q}"
        + (" {params.perturb}" if PERTURB else "") + (" {params.auto}" if AUTO_VIEWS else "")


rule radiomics_table:
    """Per-image tables → one wide per-patient table (primary rater) and one per rater."""
    input:
        [f"{RESULTS}/radiomics/{r.patient_id}/{r.modality}_{r.view}.csv"
         for r in IMAGES.drop_duplicates(["patient_id", "modality", "view"]).itertuples()],
    output:
        wide=f"{RESULTS}/features/radiomics.csv",
        by_rater=f"{RESULTS}/features/radiomics_by_rater.csv",
    params:
        primary_rater=PRIMARY,
        # their wide-table features come from the automatic masks
        auto_views=AUTO_VIEWS,
    log:
        f"{RESULTS}/logs/radiomics_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/radiomics_table.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=4000, runtime=15),
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/radiomics_table.py"
