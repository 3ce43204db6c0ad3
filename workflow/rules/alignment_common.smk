# Input functions and settings of the rules in alignment.smk (kept apart: snakemake --lint
# wants rules and functions in different files).


def alignment_config():
    """The ``alignment`` section as it is, with the schema's defaults filled in by ``validate``
    (they equal :class:`face_rhythm.registration.AlignmentParams`'s, a test checks)."""
    return dict(config["alignment"])


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
