rule deep:
    """Deep features of one modality × view: a MONAI ResNet, weights as configured; Grad-CAM examples."""
    input:
        preps=lambda wc: [prep_dir(p, f"{wc.modality}_{wc.view}") for p in images_of_view(f"{wc.modality}_{wc.view}")],
        split=f"{RESULTS}/split/split.csv",
        # roi.source: auto: the view's automatic masks replace the primary rater's (axilla.autoroi)
        segmentation=segmentation_of,
    output:
        features=f"{RESULTS}/deep/{{modality}}_{{view}}.csv",
        provenance=f"{RESULTS}/deep/{{modality}}_{{view}}.json",
        # Grad-CAM examples of training patients (PNG, file name = caption); empty for random weights
        gradcam=directory(f"{RESULTS}/deep/gradcam/{{modality}}_{{view}}"),
        # bundle: true: the network as used (fine-tuned, loaded or random), for the study's bundle
        network=f"{RESULTS}/deep/{{modality}}_{{view}}.pt" if S.bundle else [],
    params:
        settings_text=settings_text(S.deep),
        settings=S.deep,
        primary_rater=PRIMARY,
        seed=SEED,
    log:
        f"{RESULTS}/logs/deep/{{modality}}_{{view}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/deep/{{modality}}_{{view}}.tsv"
    threads: SITE.threads(S.deep.threads)
    resources:
        # gpu: locally a scheduler counter only, asked for when deep.gpu is set (so CPU runs never
        # wait for a GPU slot), the device being the job's own choice (axilla.gpu); under SLURM a
        # GPU request in the site's style and partition (axilla.cluster), none when deep.gpu is off
        **SITE.fit(mem_mb=8000, runtime=120, gpu=1 if S.deep.gpu else 0),
    conda:
        "../../envs/deep.yaml"
    script:
        "../scripts/deep.py"


rule deep_table:
    """Deep features of every view in one per-patient table, with the weights used."""
    input:
        features=[f"{RESULTS}/deep/{k}.csv" for k in VIEW_KEYS],
        provenance=[f"{RESULTS}/deep/{k}.json" for k in VIEW_KEYS],
    output:
        table=f"{RESULTS}/features/deep.csv",
        provenance=f"{RESULTS}/features/deep_weights.json",
        # only when some modality compares backbones (deep.backbones): view, backbone, inner_cv_auc, chosen
        **({"backbones": f"{RESULTS}/deep/backbones.csv"} if DEEP_COMPARED else {}),
    log:
        f"{RESULTS}/logs/deep_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/deep_table.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=4000, runtime=10),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/deep_table.py"
