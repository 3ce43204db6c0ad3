"""Register a session's reference frame to the template session's (rule register)."""



import logging

import matplotlib

matplotlib.use("Agg")

import numpy as np

from face_rhythm import alignment, registration
from face_rhythm.alignment_multisession import plot_registration_pair
from face_rhythm.h5_handling import atomic_path
from face_rhythm.provenance import run_info
from face_rhythm.runlog import setup_logging

setup_logging(snakemake.log[0])
log = logging.getLogger("face_rhythm.register")
cfg = dict(snakemake.params.alignment)
sessions = list(snakemake.params.sessions)
template = snakemake.params.template
session = snakemake.wildcards.session
paths = [str(p) for p in snakemake.input.references]
images = [alignment.load_reference_frame_h5(p)["reference_frame"] for p in paths]

backend = {"Null": "NullRegistration", None: "NullRegistration"}.get(
    cfg["backend"], cfg["backend"]
)
kwargs = dict(cfg.get("kwargs_backend") or {})
kwargs_fit = {}
if backend == "ECC_cv2":
    kwargs.setdefault("mode_transform", cfg["mode_transform"])
elif backend == "RoMa":
    kwargs.setdefault("device", cfg.get("device", "cpu"))
    kwargs_fit["constraint"] = cfg["mode_transform"]
template_method = {"fixed": "image"}.get(cfg["template_method"], cfg["template_method"])
common = {
    "method": backend,
    "kwargs_method": kwargs,
    "kwargs_fit": kwargs_fit,
    "z_threshold": float(cfg["z_threshold"]),
    "nonrigid": cfg.get("nonrigid"),
}
result = None
if template_method == "image":
    # this session straight onto the template; all sessions only if that fails
    pair = [sessions.index(template), sessions.index(session)]
    if pair[0] == pair[1]:
        pair = pair[:1]
    first = registration.register_images(
        [images[k] for k in pair], template=0, template_method="image", **common
    )
    if first.passed.all() or not cfg["use_match_search"] or len(sessions) <= 2:
        result, sessions, images = first, [sessions[k] for k in pair], [images[k] for k in pair]
    else:
        log.info("direct registration failed (z = %.2f); searching paths", first.z_final[-1])
if result is None:
    result = registration.register_images(
        images,
        template=sessions.index(template),
        template_method=template_method,
        use_match_search=bool(cfg["use_match_search"]),
        **common,
    )
i = sessions.index(session)
h, w = images[i].shape
registered = registration.remap_images(
    images[i], result.remappingIdx(i, (h, w)), border_value=float(images[i].mean())
)
if not result.passed[i]:
    log.warning(
        "session %s aligns poorly with template %s: z = %.2f < %.2f; its transferred ROIs "
        "may sit on other parts of the face",
        session,
        template,
        result.z_final[i],
        result.z_threshold,
    )
info = run_info(
    config={"alignment": cfg},
    inputs=paths,
    extra={"z_final": float(result.z_final[i]), "path": [sessions[k] for k in result.paths[i]]},
)
registration.save_registration_h5(
    snakemake.output.h5,
    result,
    i,
    sessions,
    registered_image=registered,
    params=cfg,
    run_info=info,
)
fig = plot_registration_pair(
    images[sessions.index(template)],
    images[i],
    registered,
    z=float(result.z_final[i]) if np.isfinite(result.z_final[i]) else None,
    title=f"session {session} onto template {template} via {' > '.join(sessions[k] for k in result.paths[i])}",
)
with atomic_path(snakemake.output.figure) as tmp:
    fig.savefig(tmp, format="png", dpi=110)
