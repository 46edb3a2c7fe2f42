rule interpret:
    """What a fitted model says, from its model file and the training cohort only: coefficients,
    score formulas, feature importance and (clinical models) univariable / multivariable odds ratios."""
    input:
        unpack(interpret_inputs),
    output:
        coefficients=f"{RESULTS}/models/{{model}}/coefficients.csv",
        summary=f"{RESULTS}/models/{{model}}/summary.json",
        formula=f"{RESULTS}/models/{{model}}/formula.txt",
        importance=f"{RESULTS}/models/{{model}}/importance.csv",
        odds_ratios=f"{RESULTS}/models/{{model}}/odds_ratios.csv",
    params:
        settings_text=lambda wc: settings_text(MODELS[wc.model], S.blood),
        model=lambda wc: MODELS[wc.model],
        variables=S.clinical_variables,
        blood=S.blood,
        seed=SEED,
    log:
        f"{RESULTS}/logs/interpret/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/interpret/{{model}}.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=2000, runtime=10),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/interpret.py"


rule nomogram:
    """Nomogram (points per predictor, total points → probability) of a logistic-regression model."""
    input:
        model=f"{RESULTS}/models/{{model}}/model.pkl",
    output:
        table=f"{RESULTS}/models/{{model}}/nomogram.csv",
        figure=f"{RESULTS}/models/{{model}}/nomogram.png",
    wildcard_constraints:
        model="|".join(NOMOGRAM_MODELS) or "^$",
    log:
        f"{RESULTS}/logs/interpret/{{model}}_nomogram.log",
    benchmark:
        f"{RESULTS}/benchmarks/interpret/{{model}}_nomogram.tsv"
    threads: 1
    resources:
        **SITE.fit(mem_mb=1000, runtime=5),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/nomogram.py"
