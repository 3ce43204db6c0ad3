"""tca_time_factors (one job per video): spectrogram.h5 + fit.h5 -> that video's time factors."""

from face_rhythm.decomposition import tca_time_factors_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
tca_time_factors_stage(smk.input.spectrogram, smk.input.fit, smk.output.time_factors,
                       smk.params.tca, session=smk.params.session, video=smk.params.video,
                       threads=smk.threads)
