"""register: the sessions' reference_frame.h5 -> this session's registration.h5 and figure."""

from face_rhythm.registration import register_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
register_stage(smk.input.references, smk.output.h5, smk.output.figure, smk.params.alignment,
               smk.params.sessions, smk.params.template, smk.wildcards.session)
