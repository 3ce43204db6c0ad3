"""session_rois: template rois_template.h5 + registration.h5 -> this session's rois.h5."""

from face_rhythm.registration import session_rois_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
session_rois_stage(smk.input.template_rois, smk.input.registration, smk.input.reference,
                   smk.output.rois, smk.output.figure, smk.params.alignment,
                   smk.params.template, smk.wildcards.session)
