"""track_points: video + rois.h5 (+ the previous video's tracking.h5) -> tracking.h5."""

from face_rhythm.point_tracking import track_points_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
track_points_stage(smk.params.video, smk.input.rois, smk.output.tracking, smk.params.tracking,
                   fps=smk.params.fps, backend=smk.params.backend,
                   previous_tracking=getattr(smk.input, "previous_tracking", None),
                   previous_video=smk.params.previous_video, threads=smk.threads)
