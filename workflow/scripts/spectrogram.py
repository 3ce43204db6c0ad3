"""VQT spectrograms of one video's tracked points (rule spectrogram).

tracking.h5 -> spectrogram.h5 (written atomically, batch by batch) + a PNG of the
spectrograms of a few representative points. All the work is in
:func:`face_rhythm.spectral_analysis.spectrogram_from_tracking_file`.
"""

import matplotlib

matplotlib.use("Agg")

import torch

from face_rhythm.runlog import setup_logging
from face_rhythm.spectral_analysis import spectrogram_from_tracking_file

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
torch.set_num_threads(max(1, int(smk.threads)))
spectrogram_from_tracking_file(
    smk.input.tracking,
    smk.output.spectrogram,
    smk.params.vqt,
    figure_path=smk.output.figure,
    progress=True,  # a line in the job's log every 30 s
)
