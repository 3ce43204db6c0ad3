"""Tensor component analysis of a session's (or all sessions') spectrograms (rules tca,
tca_all_sessions): writes tca.h5 and one PNG per component plus an EVR chart."""

import logging

import matplotlib

matplotlib.use("Agg")

from face_rhythm import decomposition as dec
from face_rhythm.h5_handling import simple_load, simple_save
from face_rhythm.provenance import run_info
from face_rhythm.runlog import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    log = logging.getLogger("tca")
    cfg = dict(smk.params.tca)
    params = dec.TCAParams.from_config(cfg)
    if params.combine == "separate":
        raise dec.TCAError("tca.rearrange.combine 'separate' gives one decomposition per video; "
                           "the workflow writes one tca.h5: use 'concatenate' or 'stack'")
    paths = list(smk.input.spectrograms)
    videos = list(smk.params.videos)
    sessions = list(getattr(smk.params, "sessions", None) or [smk.params.session] * len(paths))
    data, meta, freqs, points = dec.load_spectrograms(paths, sessions, videos)
    rois = smk.input.rois
    rois = rois if isinstance(rois, str) else next(iter(rois))
    loaded = simple_load(rois)
    frame = loaded.get("example_frame", loaded.get("example_image"))

    try:
        import torch

        torch.set_num_threads(max(1, int(smk.threads)))
    except ImportError:  # pragma: no cover
        pass
    result = dec.run_tca(data, params)
    (res,) = result.values()
    info = run_info(config={"tca": cfg}, inputs=[*paths, rois],
                    extra={"session": smk.params.session, "threads": smk.threads,
                           "fit_seconds": res.fit_info["seconds"],
                           "n_iter": res.fit_info["n_iter"], "evr_total": res.evr_total})
    first_session = next(iter(points))
    out = dec.tca_h5_dict(res, meta, freqs, points[first_session], run_info=info,
                          extra={"point_positions_per_session": points})
    simple_save(out, smk.output.tca)
    dec.save_tca_figures(out, smk.output.figures, example_frame=frame)
    log.info("TCA of %d video(s): rank %d, total EVR %.4f, wrote %s", len(paths),
             res.weights.size, res.evr_total, smk.output.tca)


if "snakemake" in globals():
    main(snakemake)
