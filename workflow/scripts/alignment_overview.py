"""alignment_overview: every registration.h5 -> overview figures and alignment_summary.tsv."""

from face_rhythm.registration import alignment_overview_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
alignment_overview_stage(smk.input.registrations, smk.output.figure, smk.output.scores,
                         smk.output.table, smk.params.sessions, smk.params.template)
