"""nwb_export: a session's tracking, spectrograms, ROIs and TCA -> {session}.nwb."""

from face_rhythm.nwb import nwb_export_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
nwb_export_stage(
    smk.output.nwb,
    smk.params.session,
    smk.params.videos,
    smk.input.tracking,
    smk.input.spectrograms,
    smk.input.rois,
    smk.input.tca,
    smk.params.video_paths,
    smk.params.outputs,
)
