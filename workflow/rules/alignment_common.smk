# Input functions and settings of the rules in alignment.smk (kept apart: snakemake --lint
# wants rules and functions in different files).

ALIGNMENT_DEFAULTS = {
    "enabled": False,
    "template_session": None,
    "template_method": "fixed",
    "backend": "ECC_cv2",
    "mode_transform": "euclidean",
    "z_threshold": 4.0,
    "use_match_search": True,
    "nonrigid": None,
    "ds_factor": 20,
    "ptile_specVar_keep": 10.0,
    "max_frames_per_video": 3000,
    "clip_limit": 2.0,
    "grid_size": 20,
    "params_vqt": {},
    "kwargs_backend": {},
    "device": "cpu",
}


def alignment_config():
    """The config's alignment section over ALIGNMENT_DEFAULTS."""
    return {**ALIGNMENT_DEFAULTS, **dict(config.get("alignment") or {})}


def alignment_enabled():
    return bool(alignment_config()["enabled"])


def alignment_template():
    """Name of the template session (config alignment.template_session, else the first)."""
    name = alignment_config()["template_session"]
    if name is None:
        return SESSIONS[0]
    if str(name) not in SESSIONS:
        raise ValueError(
            f"config alignment.template_session {name!r} is not a session of the videos "
            f"table {SESSIONS}"
        )
    return str(name)


def alignment_register_sessions(wildcards):
    """Sessions whose reference frames the registration of one session needs, in table order.

    All sessions when the path search or a sequential chain may route through them; else
    only this session and the template.
    """
    cfg = alignment_config()
    if cfg["use_match_search"] or cfg["template_method"] == "sequential":
        return list(SESSIONS)
    keep = {wildcards.session, alignment_template()}
    return [s for s in SESSIONS if s in keep]


def alignment_register_inputs(wildcards):
    return {
        "references": [
            f"results/{s}/reference_frame.h5"
            for s in alignment_register_sessions(wildcards)
        ]
    }


def alignment_template_rois(wildcards):
    return f"results/{alignment_template()}/rois_template.h5"


def alignment_outputs():
    """Targets to add to final_outputs() when alignment is enabled."""
    if not alignment_enabled():
        return []
    return [
        "results/all_sessions/figures/alignment_reference_frames.png",
        "results/all_sessions/alignment_summary.tsv",
    ] + [f"results/{s}/figures/session_rois.png" for s in SESSIONS]
