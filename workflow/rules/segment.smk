# Automatic segmentation (segment.enabled; included by the Snakefile only then).
SEGMENT_VIEWS = S.segment.views


rule segment:
    """U-Net, U-Net++ and DeepLabV3 of one 2D view: trained on training patients' primary-rater masks
    (out-of-fold masks for them), fused, and evaluated against the manual masks."""
    input:
        preps=lambda wc: [prep_dir(p, f"{wc.modality}_{wc.view}") for p in images_of_view(f"{wc.modality}_{wc.view}")],
        split=f"{RESULTS}/split/split.csv",
    output:
        # <patient>.nii.gz fused masks, <network>/<patient>.nii.gz, cases.csv, raters.csv,
        # training.json and overlays/ (axilla.segment.stage)
        directory(f"{RESULTS}/segmentation/{{modality}}_{{view}}"),
    params:
        # segment.review changes the review list only (segment_table), not the masks
        settings_text=settings_text({k: v for k, v in asdict(S.segment).items() if k != "review"}),
        settings=S.segment,
        primary_rater=PRIMARY,
        seed=SEED,
    log:
        f"{RESULTS}/logs/segment/{{modality}}_{{view}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/segment/{{modality}}_{{view}}.tsv"
    threads: SITE.threads(S.segment.threads)
    resources:
        # as the deep rule: a GPU slot only when segment.gpu is set
        **SITE.fit(mem_mb=4000, runtime=120, gpu=1 if S.segment.gpu else 0),
    conda:
        "../../envs/deep.yaml"
    script:
        "../scripts/segment.py"


rule segment_table:
    """Segmentation metrics of every view, model and cohort, the manual masks' inter-rater Dice, and
    the review list (empty masks, low Dice, areas outside the training range)."""
    input:
        views=[f"{RESULTS}/segmentation/{k}" for k in SEGMENT_VIEWS],
    output:
        metrics=f"{RESULTS}/segmentation/metrics.csv",
        raters=f"{RESULTS}/segmentation/raters.csv",
        # modality, view, patient_id, cohort, reason, dice, roi_pixels, train_min_pixels, train_max_pixels
        review=f"{RESULTS}/segmentation/review.csv",
    params:
        settings_text=settings_text(S.segment),
        settings=S.segment,
        seed=SEED,
    log:
        f"{RESULTS}/logs/segment_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/segment_table.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=10),
    conda:
        "../../envs/deep.yaml"
    script:
        "../scripts/segment_table.py"
