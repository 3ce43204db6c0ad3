"""reference_frame: a session's videos -> reference_frame.h5 and its figure."""

from face_rhythm.registration import reference_frame_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
reference_frame_stage(smk.params.videos, smk.params.fps, smk.output.h5, smk.output.figure,
                      smk.params.alignment, smk.wildcards.session, threads=smk.threads)
