"""rois: the session's first video (+ an ROI file) -> rois.h5 and figures/rois.png."""

from face_rhythm.rois.stage import rois_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
rois_stage(smk.params.video, smk.input.file, smk.output.rois, smk.output.figure,
           smk.params.rois, backend=smk.params.backend)
