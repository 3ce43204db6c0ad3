"""Warp the template session's ROIs and points into a session (rule session_rois)."""



import matplotlib

matplotlib.use("Agg")

import numpy as np

from face_rhythm import alignment, registration
from face_rhythm import rois as fr_rois
from face_rhythm.h5_handling import atomic_path
from face_rhythm.provenance import run_info
from face_rhythm.runlog import setup_logging

setup_logging(snakemake.log[0])
session = snakemake.wildcards.session
template_rois = fr_rois.load_rois(snakemake.input.template_rois)
reg = registration.load_registration_h5(snakemake.input.registration)
ref = alignment.load_reference_frame_h5(snakemake.input.reference)
hw = tuple(ref["reference_frame"].shape)
if tuple(template_rois.frame_height_width) != hw:
    raise ValueError(
        f"{snakemake.input.template_rois}: ROIs drawn on {template_rois.frame_height_width} "
        f"frames, but session {session}'s frames are {hw}; sessions must share a frame size"
    )
if "remappingIdx" in reg:
    roiset = alignment.transfer_rois(
        template_rois, remappingIdx=reg["remappingIdx"], source=f"session {session}"
    )
else:
    roiset = alignment.transfer_rois(
        template_rois, warp_matrix=reg["warp_matrix"], source=f"session {session}"
    )
info = run_info(
    config={"alignment": dict(snakemake.params.alignment)},
    inputs=[snakemake.input.template_rois, snakemake.input.registration],
    extra={
        "template_session": snakemake.params.template,
        "z_final": float(reg["z_final"]),
        "passed": bool(reg["passed"]),
        "n_points": len(roiset.points()),
    },
)
example = np.asarray(ref["mean_still_frame"], dtype=np.uint8)
fr_rois.save_rois_h5(roiset, snakemake.output.rois, run_info=info, example_image=example)
fig = fr_rois.plot_rois(ref["reference_frame_uint8"], roiset)
fig.suptitle(
    f"session {session}: ROIs and points of template {snakemake.params.template} "
    f"(alignment z = {float(reg['z_final']):.1f})",
    fontsize="small",
)
with atomic_path(snakemake.output.figure) as tmp:
    fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
