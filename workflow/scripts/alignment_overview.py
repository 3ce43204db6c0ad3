"""All sessions' registered reference frames and alignment scores (rule alignment_overview)."""



import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from face_rhythm import alignment, registration
from face_rhythm.alignment_multisession import plot_alignment_scores, plot_registered_images
from face_rhythm.h5_handling import atomic_path
from face_rhythm.runlog import setup_logging

setup_logging(snakemake.log[0])
sessions = list(snakemake.params.sessions)
template = snakemake.params.template
regs = [registration.load_registration_h5(p) for p in snakemake.input.registrations]
refs = [alignment.load_reference_frame_h5(p) for p in snakemake.input.references]
registered = [r["registered_reference_frame"] for r in regs]
z_final = np.array([float(r["z_final"]) for r in regs])
z_initial = np.array([float(r["z_initial"]) for r in regs])
passed = np.array([bool(r["passed"]) for r in regs])
t_idx = sessions.index(template)
z_matrix = next((r["z_matrix"] for r in regs if "z_matrix" in r), None)
result = registration.RegistrationResult(
    warp_matrices=np.stack([r["warp_matrix"] for r in regs]),
    z_initial=z_initial,
    z_final=z_final,
    passed=passed,
    paths=[[sessions.index(s) for s in r["path"]] for r in regs],
    template_index=t_idx,
    method=str(regs[0]["method"]),
    z_threshold=float(regs[0]["z_threshold"]),
    z_matrix=z_matrix,
)
fig = plot_registered_images(
    registered, sessions, z_final, result.z_threshold, template_index=t_idx
)
with atomic_path(snakemake.output.figure) as tmp:
    fig.savefig(tmp, format="png", dpi=110)
fig = plot_alignment_scores(result, names=sessions)
with atomic_path(snakemake.output.scores) as tmp:
    fig.savefig(tmp, format="png", dpi=110)
table = pd.DataFrame(
    {
        "session": sessions,
        "template_session": template,
        "z_initial": z_initial,
        "z_final": z_final,
        "passed": passed,
        "path": [" > ".join(r["path"]) for r in regs],
        "warp_matrix": [
            ";".join(f"{v:.6g}" for v in r["warp_matrix"].ravel()) for r in regs
        ],
    }
)
with atomic_path(snakemake.output.table) as tmp:
    table.to_csv(tmp, sep="\t", index=False)
