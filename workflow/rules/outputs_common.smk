# Input functions of the rules in outputs.smk (kept apart: snakemake --lint wants rules and
# functions in different files).


def report_if(flag, path, **kwargs):
    """``report(path, **kwargs)`` when ``flag`` is true, else the plain path."""
    return report(path, **kwargs) if flag else path


def outputs_config():
    """The ``outputs`` section, with the schema's defaults filled in by ``validate``
    (they equal :class:`face_rhythm.visualization.OutputsParams`'s, a test checks)."""
    return dict(config["outputs"])


def session_trackings(wildcards):
    return expand(
        "results/{session}/{video}/tracking.h5",
        session=wildcards.session,
        video=session_video_ids(wildcards.session),
    )


def session_tca_input(wildcards):
    if config["tca"]["per_session"]:
        return [f"results/{wildcards.session}/tca.h5"]
    return []


def session_run_info_inputs(wildcards):
    files = [f"results/{wildcards.session}/rois.h5"]
    files += session_trackings(wildcards)
    files += session_spectrograms(wildcards)
    files += session_tca_input(wildcards)
    return files
