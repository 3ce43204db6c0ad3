"""Probe and validate a session's videos; write their metadata table (rule video_metadata).

Params: ``session``, ``video_ids``, ``videos`` (local paths or sftp:// URLs), ``fps``
(per-video overrides or None), ``backend``, ``vqt`` (config section: each video must be
longer than the VQT window, its Nyquist frequency above F_max), ``idx_start``. Output: ``table`` (TSV, one row per video:
session, video, path, n_frames, frame_rate (Hz), height, width, n_channels, backend,
duration_s, first_frame), written atomically.
"""



import logging

from face_rhythm.h5_handling import atomic_path
from face_rhythm.runlog import setup_logging
from face_rhythm.spectral_analysis import SpectralParams, SpectralParamsError, check_vqt_params
from face_rhythm.video import VideoError, metadata_table, validate_videos

setup_logging(snakemake.log[0])
log = logging.getLogger("face_rhythm.workflow.video_metadata")
infos = validate_videos(list(snakemake.params.videos), fps=list(snakemake.params.fps),
                        same_size=True, backend=snakemake.params.backend)
spectral = SpectralParams.from_config(snakemake.params.vqt)
for info in infos:
    fs = spectral.Fs_sample or info.frame_rate
    try:
        check_vqt_params(fs, spectral.params_VQT, info.n_frames - int(snakemake.params.idx_start))
    except SpectralParamsError as exc:
        raise VideoError(info.path, f"cannot make its spectrogram: {exc}") from None
table = metadata_table(infos)
table.insert(0, "video", list(snakemake.params.video_ids))
table.insert(0, "session", snakemake.params.session)
log.info("session %s: %d video(s), %d frames in total\n%s", snakemake.params.session,
         len(table), table.attrs["n_frames_total"], table.to_string(index=False))
with atomic_path(snakemake.output.table) as tmp:
    table.to_csv(tmp, sep="\t", index=False)
