import logging
import math
import os
import sys
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from face_rhythm.errors import FaceRhythmError
from face_rhythm.preflight import NAME_PATTERN, read_videos_table
from face_rhythm.rois import read_rois_h5
from face_rhythm.video import is_remote as video_is_remote

validate(config, "../schemas/config.schema.yaml")

DEMO_PREFIX = "demo_data"


wildcard_constraints:
    session=NAME_PATTERN,
    video=NAME_PATTERN,


def load_videos_table(path):
    """The videos table (session, video, path, optional fps), checked at parse time: every
    problem at once, one line each, and no traceback (face_rhythm.preflight)."""
    try:
        return read_videos_table(path)
    except FaceRhythmError as exc:
        sys.exit(f"face-rhythm: {exc}")


VIDEOS = load_videos_table(config["videos"])
SESSIONS = list(dict.fromkeys(VIDEOS["session"]))


def session_video_ids(session):
    return list(VIDEOS.loc[VIDEOS["session"] == session, "video"])


def session_videos_param(wildcards):
    return session_video_ids(wildcards.session)


def video_row(wildcards):
    return VIDEOS.loc[(wildcards.session, wildcards.video)]


def is_remote(path):
    """An sftp:// URL: streamed by the scripts, not a file Snakemake can track."""
    return video_is_remote(path)


def local_files(paths):
    """The local files among video paths (input of a rule); URLs are passed as params."""
    return [p for p in paths if not is_remote(p)]


def video_location(wildcards):
    """The video of a job as given in the table: a local path or an sftp:// URL."""
    return video_row(wildcards)["path"]


def video_path(wildcards):
    return local_files([video_location(wildcards)])


def session_video_locations(wildcards):
    return [
        VIDEOS.loc[(wildcards.session, v), "path"]
        for v in session_video_ids(wildcards.session)
    ]


def session_video_fps(wildcards):
    fps = [
        VIDEOS.loc[(wildcards.session, v), "fps"]
        for v in session_video_ids(wildcards.session)
    ]
    return [None if pd.isna(f) else float(f) for f in fps]


def session_local_videos(wildcards):
    return local_files(session_video_locations(wildcards))


def video_fps(wildcards):
    fps = video_row(wildcards)["fps"]
    return None if pd.isna(fps) else float(fps)


def previous_video_id(wildcards):
    """With tracking.contiguous, the session's video before this one (None for the first)."""
    if not config["tracking"]["contiguous"]:
        return None
    videos = session_video_ids(wildcards.session)
    i = videos.index(wildcards.video)
    return videos[i - 1] if i > 0 else None


def previous_tracking_inputs(wildcards):
    """With tracking.contiguous, a video starts where the session's previous video ended:
    its tracking depends on the previous video's tracking.h5 (and on that video)."""
    prev = previous_video_id(wildcards)
    if prev is None:
        return {}
    path = VIDEOS.loc[(wildcards.session, prev), "path"]
    return {
        "previous_tracking": f"results/{wildcards.session}/{prev}/tracking.h5",
        "previous_video": local_files([path]),
    }


def previous_video_location(wildcards):
    prev = previous_video_id(wildcards)
    return "" if prev is None else VIDEOS.loc[(wildcards.session, prev), "path"]


def first_video_location(wildcards):
    session = wildcards.session
    return VIDEOS.loc[(session, session_video_ids(session)[0]), "path"]


def first_video_of_session(wildcards):
    return local_files([first_video_location(wildcards)])


def demo_params(wildcards):
    """Parameters of one synthetic demo video: config['demo'] plus a per-video seed and camera."""
    demo = dict(config["demo"])
    keys = list(VIDEOS.index)
    index = (
        keys.index((wildcards.session, wildcards.video))
        if (wildcards.session, wildcards.video) in keys
        else 0
    )
    camera = demo.pop("sessions", {}).get(wildcards.session, {})
    # one face (texture seed) for every video and session; sensor noise differs per video
    demo["noise_seed"] = int(demo["seed"]) + index
    # a session's camera move, when the config gives one (else default_face's: none)
    if "shift" in camera:
        demo["camera_shift"] = list(camera["shift"])
    if "rotation_deg" in camera:
        demo["camera_rotation_deg"] = float(camera["rotation_deg"])
    return demo


def rois_file(wildcards):
    """The ROI file the ROIs are made from (none with inline polygons; a missing file is
    not an input, so that the session's check reports it with every other problem)."""
    rois = config["rois"]
    path = None if rois["source"] == "polygons" else rois["file"]
    return [path] if path and Path(path).exists() else []


def preflight_rois(wildcards):
    """The rois section, for the session's check when its ROIs are built from it (with
    alignment, only the template session's are; the others' come from the template)."""
    if alignment_enabled() and wildcards.session != alignment_template():
        return None
    return config["rois"]


def session_spectrograms(wildcards):
    return expand(
        "results/{session}/{video}/spectrogram.h5",
        session=wildcards.session,
        video=session_video_ids(wildcards.session),
    )


def all_spectrograms(wildcards):
    return [
        f"results/{s}/{v}/spectrogram.h5"
        for s, v in zip(VIDEOS["session"], VIDEOS["video"])
    ]


def mem_mb(base, per_input_mb=0.0):
    """Memory request in MB: ``base + per_input_mb * (size of the job's inputs in MB)``,
    times the retry attempt."""

    def _mem(wildcards, input, attempt):
        size = input.size_mb if per_input_mb else 0.0
        return int(math.ceil((base + per_input_mb * size) * attempt))

    return _mem


def runtime_min(base, per_input_mb=0.0):
    """Time limit in minutes: ``base + per_input_mb * (inputs in MB)``, times the attempt."""

    def _runtime(wildcards, input, attempt):
        size = input.size_mb if per_input_mb else 0.0
        return int(math.ceil((base + per_input_mb * size) * attempt))

    return _runtime


# Tracking files up to this size (MB; 1 MB = 125k point-frames, about 0.25 s of VQT on one
# thread) get a one-thread spectrogram job: the job is then mostly start-up and figure, and
# several videos' jobs run side by side. Above it the VQT dominates and 2 threads run it
# 1.6x faster (bench/bench_spectral.py: 0.52 -> 0.82 M point-frames/s on 2 cores).
SPECTROGRAM_ONE_THREAD_MB = 64


def spectrogram_threads(wildcards, input):
    """Threads of a spectrogram job: 1 for a small tracking file, else 2 (Snakemake caps
    them at --cores; a profile's set-threads overrides). A file not written yet (a dry
    run) counts as small."""
    size = sum(os.path.getsize(f) for f in input if os.path.exists(f)) / 1e6
    return 1 if size <= SPECTROGRAM_ONE_THREAD_MB else 2


def gpu_request(section):
    """Number of GPUs to request, 1 when the config section says ``device: cuda`` or ``auto``
    (the SLURM plugin turns ``gpu: 1`` into ``sbatch --gpus=1``), else 0 (a CPU job)."""
    return 1 if str(config[section]["device"]) in ("cuda", "auto") else 0


# Tracking cost per point and frame, in s: measured 11-13 us with the reference's parameters
# on 2 cores (bench/bench_tracking.py), 3-4 us with the project's defaults; 2x margin.
TRACKING_S_PER_POINT_FRAME = 25e-6


def tracking_runtime(wildcards, input, attempt):
    """Time limit (min) of track_points from the video's frame count (the session's
    metadata table) and the number of points (rois.h5): 10 min + frames x points x cost.
    """
    frames = int(
        pd.read_csv(input.metadata, sep="\t", dtype={"video": str})
        .set_index("video")
        .loc[wildcards.video, "n_frames"]
    )
    points = read_rois_h5(input.rois).n_points
    minutes = 10 + frames * points * TRACKING_S_PER_POINT_FRAME / 60
    return int(math.ceil(minutes * attempt))


def final_outputs():
    outputs = []
    for s, v in zip(VIDEOS["session"], VIDEOS["video"]):
        outputs.append(f"results/{s}/{v}/spectrogram.h5")
    if config["tca"]["per_session"]:
        outputs += expand("results/{session}/tca.h5", session=SESSIONS)
    if config["tca"]["all_sessions"]:
        outputs.append("results/all_sessions/tca.h5")
    if config["outputs"]["overlay_video"]:
        outputs += [
            f"results/{s}/{v}/overlay.mp4"
            for s, v in zip(VIDEOS["session"], VIDEOS["video"])
        ]
    if config["outputs"]["nwb"]:
        outputs += [f"results/{s}/{s}.nwb" for s in SESSIONS]
    outputs += [f"results/{s}/run_info.tsv" for s in SESSIONS]
    outputs += alignment_outputs()
    return outputs


def report_results_location():
    logging.getLogger("face_rhythm").info("")
    msg = (
        f"face-rhythm: results are in {Path('results').resolve()} "
        f"({len(SESSIONS)} session(s), {len(VIDEOS)} video(s)); "
        "per session: rois.h5, <video>/tracking.h5, <video>/spectrogram.h5, tca.h5, figures/"
    )
    print(msg)
