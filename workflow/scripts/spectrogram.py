"""spectrogram: tracking.h5 -> spectrogram.h5 + a PNG of a few representative points."""

from face_rhythm.runlog import setup_logging
from face_rhythm.spectral_analysis import spectrogram_from_tracking_file

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
spectrogram_from_tracking_file(smk.input.tracking, smk.output.spectrogram, smk.params.vqt,
                               figure_path=smk.output.figure, progress=True,
                               threads=smk.threads)
