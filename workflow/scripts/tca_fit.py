"""tca_fit (tca.strategy streamed): spectrogram.h5 files -> tca_parts/fit.h5 (docs/tca.md)."""

from face_rhythm.decomposition import tca_fit_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
tca_fit_stage(smk.input.spectrograms, smk.output.fit, smk.params.tca,
              session=smk.params.session, videos=smk.params.videos,
              sessions=smk.params.sessions, threads=smk.threads)
