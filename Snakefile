# face-rhythm: rodent face videos -> point tracking -> VQT spectrograms -> TCA.
# The workflow lives in workflow/Snakefile (the catalog's standard place); this root file lets
# `snakemake --cores 2` run it from the repository root.


include: "workflow/Snakefile"


# Snakemake picks the default target among the root file's own rules, so name it here.
rule default:
    default_target: True
    input:
        rules.all.input,
