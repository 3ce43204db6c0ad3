"""Input and resource functions of the TCA rules (decomposition.smk), for both strategies."""

from face_rhythm.decomposition import (
    TCAStreamedParams,
    TCAWorkflowParams,
    streamed_sample_mb,
)

TCA_WORKFLOW = TCAWorkflowParams.from_config(config["tca"])
TCA_STREAMED = TCAStreamedParams.from_config(config["tca"])


def tca_decomposition_elements(wildcards):
    """(session, video) of every video of a decomposition: a session, or all_sessions."""
    if wildcards.session == "all_sessions":
        return list(zip(VIDEOS["session"], VIDEOS["video"]))
    return [(wildcards.session, v) for v in session_video_ids(wildcards.session)]


def tca_decomposition_spectrograms(wildcards):
    return [
        f"results/{s}/{v}/spectrogram.h5"
        for s, v in tca_decomposition_elements(wildcards)
    ]


def tca_decomposition_sessions(wildcards):
    return [s for s, _ in tca_decomposition_elements(wildcards)]


def tca_decomposition_videos(wildcards):
    return [v for _, v in tca_decomposition_elements(wildcards)]


def tca_decomposition_time_factors(wildcards):
    return [
        f"results/{wildcards.session}/tca_parts/{s}/{v}.h5"
        for s, v in tca_decomposition_elements(wildcards)
    ]


def tca_decomposition_checks(wildcards):
    """The session checks (videos.tsv) of a decomposition's sessions: a TCA job waits for
    them, so that a changed tca value is checked before the fit (ancient: a passed check
    does not make the TCA rerun)."""
    sessions = dict.fromkeys(s for s, _ in tca_decomposition_elements(wildcards))
    return [f"results/{s}/videos.tsv" for s in sessions]


def tca_decomposition_rois(wildcards):
    first = tca_decomposition_elements(wildcards)[0][0]
    return f"results/{first}/rois.h5"


def tca_fit_mem_mb(wildcards, input, attempt):
    """tca_fit memory: the sample tensor (tca.streamed.time_bins, from the files' headers)
    and the fit's copies of it; measured 4.7x the sample with init svd (tensorly's SVD of
    each unfolding in float64), 1.1x with init random (bench_tca_scale)."""
    sample = streamed_sample_mb(input.spectrograms, config["tca"])
    return int(math.ceil((2000 + 5 * sample) * attempt))


def tca_fit_runtime(wildcards, input, attempt):
    """tca_fit minutes: reading the sample and 200 HALS iterations at ~0.3 s per MB of
    sample tensor on 2 cores (3x margin)."""
    sample = streamed_sample_mb(input.spectrograms, config["tca"])
    return int(math.ceil((20 + sample * 0.3 * 3 / 60) * attempt))
