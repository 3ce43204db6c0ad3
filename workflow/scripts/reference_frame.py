"""A session's reference frame: the mean of its still frames (rule reference_frame)."""



import matplotlib

matplotlib.use("Agg")

from face_rhythm import alignment
from face_rhythm.h5_handling import atomic_path
from face_rhythm.provenance import run_info
from face_rhythm.runlog import setup_logging

setup_logging(snakemake.log[0])
cfg = dict(snakemake.params.alignment)
videos = [str(v) for v in snakemake.params.videos]  # local paths or sftp:// URLs
params = alignment.ReferenceFrameParams.from_config(cfg)
torch_threads = max(1, int(snakemake.threads) - 1)  # one thread decodes
import torch

torch.set_num_threads(torch_threads)
ref = alignment.reference_frame_from_videos(videos, params, fps=list(snakemake.params.fps))
info = run_info(
    config={"alignment": cfg},
    inputs=videos,
    extra={
        "n_frames": len(ref.kept),
        "n_kept": int(ref.kept.sum()),
        "frame_rate": ref.frame_rate,
    },
)
alignment.save_reference_frame_h5(ref, snakemake.output.h5, run_info=info, videos=videos)
fig = alignment.plot_reference_frame(ref, title=f"session {snakemake.wildcards.session}")
with atomic_path(snakemake.output.figure) as tmp:
    fig.savefig(tmp, format="png", dpi=110)
