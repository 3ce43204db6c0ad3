"""tca, tca_all_sessions: spectrogram.h5 files (+ rois.h5) -> tca.h5 and figures/tca/*.png."""

from face_rhythm.decomposition import tca_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
tca_stage(smk.input.spectrograms, smk.input.rois, smk.output.tca, smk.output.figures,
          smk.params.tca, session=smk.params.session, videos=smk.params.videos,
          sessions=getattr(smk.params, "sessions", None), threads=smk.threads)
