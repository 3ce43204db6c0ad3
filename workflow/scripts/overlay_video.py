"""Overlay video, contact sheet and tracking summary figure of one video (rule overlay_video)."""



import logging
import os
from pathlib import Path

import h5py
import numpy as np

from face_rhythm import visualization as vis
from face_rhythm.h5_handling import h5Obj_to_dict
from face_rhythm.runlog import setup_logging
from face_rhythm.video import read_frames

setup_logging(snakemake.log[0])
log = logging.getLogger("face_rhythm.workflow.overlay_video")
cfg = dict(snakemake.params.outputs or {})
video = snakemake.params.video  # a local path or an sftp:// URL
label = f"{snakemake.wildcards.session}/{snakemake.wildcards.video}"

with h5py.File(snakemake.input.tracking, "r") as f:
    points = np.asarray(f["points_tracked"][()], dtype=np.float32)
    frame_rate = float(np.asarray(f["frame_rate"][()]))
    raw_viol = h5Obj_to_dict(f["violations"]) if "violations" in f else None
violations = vis.violations_to_dense(raw_viol, points.shape[0], points.shape[1])
params = vis.OverlayParams.from_dict(cfg.get("overlay"))
# Check everything cheap before the long loop: an unknown key or size fails here.
params.output_size(1, 1)

out = Path(snakemake.output.video)
written = vis.write_overlay_video(video, points, out, frame_rate=frame_rate,
                                  violations=violations, params=params)
if written != out:  # MJPG/AVI fallback: keep the name the workflow expects
    log.warning("%s: MP4 encoder unavailable; %s holds an MJPG AVI stream", label, out)
    os.replace(written, out)

idx = vis.contact_sheet_indices(points.shape[0], int(cfg.get("contact_sheet_frames", 6)),
                                violations)
frames = read_frames(video, idx, fps=frame_rate)
fig = vis.plot_contact_sheet(frames, idx, points[idx], frame_rate, violations[idx],
                             title=f"{label}: tracked points (cyan; magenta = violation)")
vis.save_figure(fig, snakemake.output.contact_sheet)

fig = vis.plot_tracking_summary(points, frame_rate, violations,
                                title=f"{label}: tracked point displacement")
vis.save_figure(fig, snakemake.output.figure)
