"""overlay_video: video + tracking.h5 -> overlay.mp4, contact sheet and tracking figure."""

from face_rhythm.runlog import setup_logging
from face_rhythm.visualization import overlay_video_stage

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
overlay_video_stage(
    smk.params.video,  # a local path or an sftp:// URL
    smk.input.tracking,
    smk.output.video,
    smk.output.contact_sheet,
    smk.output.figure,
    smk.params.outputs,
    label=f"{smk.wildcards.session}/{smk.wildcards.video}",
)
