"""Track a session's grid of points through one video (rule track_points).

Inputs: ``rois`` (``point_positions``, ``mask``), ``metadata`` (the session's validated
videos table); optional ``previous_tracking`` (the session's previous video's tracking.h5) for
``tracking.contiguous``. Params: ``video`` and ``previous_video`` (local paths or sftp://
URLs; ``previous_video`` empty unless contiguous), ``tracking`` (config section), ``fps``
(override or None), ``backend`` (video backend).
Output: ``tracking`` (HDF5, keys in docs/architecture.md), written atomically, positions
streamed into it in chunks.
"""


import json
import logging
import time

import cv2
import h5py
import numpy as np

from face_rhythm import point_tracking as fpt
from face_rhythm.h5_handling import atomic_h5, write_dict_to_h5
from face_rhythm.provenance import run_info, run_info_to_h5_dict
from face_rhythm.runlog import setup_logging
from face_rhythm.video import probe_video

logger = logging.getLogger("face_rhythm.track_points")


def main(smk) -> None:
    setup_logging(smk.log[0])
    cfg = dict(smk.params.tracking)
    params = fpt.TrackingParams.from_config(cfg)
    fpt.check_device(cfg.get("device", "cpu"))
    threads = max(int(smk.threads), 1)
    cv2.setNumThreads(threads)
    chunk_size = int(cfg.get("chunk_size", 32))
    with h5py.File(smk.input.rois, "r") as f:
        missing = [k for k in ("point_positions", "mask") if k not in f]
        if missing:
            raise fpt.TrackingError(f"{smk.input.rois}: lacks {missing} (made by rule rois)")
        home = np.asarray(f["point_positions"][()], dtype=np.float32)
        mask = np.asarray(f["mask"][()], dtype=bool)

    idx_start = int(cfg.get("idx_start", 0))
    start_points = previous_video = None
    previous_tracking = getattr(smk.input, "previous_tracking", None)
    if cfg.get("contiguous", False) and previous_tracking:
        with h5py.File(previous_tracking, "r") as f:
            start_points = np.asarray(f["points_tracked"][-1], dtype=np.float32)
        previous_video = smk.params.previous_video
        idx_start = 0  # idx_start applies to the first video of a contiguous session
        logger.info("contiguous: continuing from %s", previous_tracking)

    video = smk.params.video
    fps = smk.params.fps
    backend = smk.params.backend
    info = probe_video(video, fps=fps, backend=backend)
    n_frames, n_points = int(info.n_frames), int(home.shape[0])
    logger.info("%s: %d frames %dx%d at %.3f Hz; %d points; %s", video, n_frames, info.width,
                info.height, info.frame_rate, n_points, json.dumps(params.to_reference()))
    t0 = time.perf_counter()
    with atomic_h5(smk.output.tracking) as f:
        ds = f.create_dataset("points_tracked", shape=(n_frames, n_points, 2), dtype=np.float32,
                              chunks=(min(chunk_size, n_frames), n_points, 2))
        res = fpt.track_video(video, home, params, mask=mask, idx_start=idx_start, fps=fps,
                              start_points=start_points, previous_video=previous_video,
                              out=ds, chunk_size=chunk_size, n_workers=threads,
                              backend=backend, progress=True)  # a log line every 30 s
        write_dict_to_h5(f, {
            "point_positions": res.point_positions,
            "neighbors": res.neighbors,
            "violations": res.violations,
            "violation_fraction": np.float64(res.violation_fraction),
            "frame_rate": np.float64(res.frame_rate),
            "params": json.dumps({**params.to_reference(), "idx_start": idx_start,
                                  "contiguous": bool(cfg.get("contiguous", False))}),
            "run_info": run_info_to_h5_dict(run_info(
                config={"tracking": cfg},
                inputs=[video, smk.input.rois] + ([previous_tracking] if start_points is not None
                                                  else []),
                extra={"fps_override": fps, "threads": threads, "n_rewinds": res.n_rewinds})),
        })
    dt = time.perf_counter() - t0
    logger.info("tracked %d frames in %.1f s (%.0f frames/s); violation fraction %.4f, "
                "%d rewind(s)", n_frames - idx_start, dt, (n_frames - idx_start) / dt,
                res.violation_fraction, res.n_rewinds)


if __name__ == "__main__":
    main(snakemake)  # injected by Snakemake
