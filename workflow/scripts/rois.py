"""Build a session's ROIs and grid of points from config or an ROI file (rule rois)."""

import matplotlib

matplotlib.use("Agg")

from face_rhythm import rois as fr_rois
from face_rhythm.h5_handling import atomic_path
from face_rhythm.provenance import run_info
from face_rhythm.runlog import setup_logging
from face_rhythm.video import read_frames

setup_logging(snakemake.log[0])
cfg = snakemake.params.rois
video = snakemake.params.video  # a local path or an sftp:// URL
frame = read_frames(video, [0], grayscale=True, backend=snakemake.params.backend)[0]
roiset = fr_rois.rois_from_config(cfg, frame_height_width=frame.shape[:2])
info = run_info(config={"rois": cfg}, inputs=[video, *snakemake.input.file])
fr_rois.save_rois_h5(roiset, snakemake.output.rois, run_info=info, example_image=frame)
fig = fr_rois.plot_rois(frame, roiset)
with atomic_path(snakemake.output.figure) as tmp:
    fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
