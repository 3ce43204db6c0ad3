"""The workflow's alignment stages, files in and files out (one function per rule).

==========================  ===================================================================
rule                        function
==========================  ===================================================================
``reference_frame``         :func:`reference_frame_stage`: videos -> ``reference_frame.h5``
``register``                :func:`register_stage`: reference frames -> ``registration.h5``
``session_rois``            :func:`session_rois_stage`: template ROIs + registration ->
                            ``rois.h5``
``alignment_overview``      :func:`alignment_overview_stage`: every ``registration.h5`` ->
                            figures and ``alignment_summary.tsv``
==========================  ===================================================================

Each takes the rule's ``alignment`` config section as it is (absent keys at the defaults of
:class:`~.params.AlignmentParams`) and records it in the output's ``run_info``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from face_rhythm.atomic import atomic_path
from face_rhythm.errors import RoiError
from face_rhythm.provenance import run_info
from face_rhythm.rois import load_rois, plot_rois, save_rois_h5

from .figures import (
    plot_alignment_scores,
    plot_reference_frame,
    plot_registered_images,
    plot_registration_pair,
    save_png,
)
from .params import ReferenceFrameParams
from .reference_frame import reference_frame_from_videos
from .register import RegistrationResult
from .results import (
    read_reference_frame_file,
    read_registration_file,
    save_reference_frame_h5,
    save_registration_h5,
)
from .strategy import register_session
from .transfer import transfer_rois

logger = logging.getLogger(__name__)

__all__ = ["alignment_overview_stage", "reference_frame_stage", "register_stage",
           "session_rois_stage"]

PathLike = str | os.PathLike


def reference_frame_stage(videos: Sequence[str], fps: Sequence[float | None], h5: PathLike,
                          figure: PathLike, alignment: Mapping[str, Any], session: str,
                          threads: int = 1) -> Path:
    """A session's reference frame: ``reference_frame.h5`` and its figure.

    Parameters
    ----------
    videos : sequence of str
        The session's videos (local paths or ``sftp://`` URLs).
    fps : sequence of float or None
        Frame-rate overrides (Hz), one per video.
    h5, figure : path-like
        Outputs.
    alignment : mapping
        The ``alignment`` config section.
    session : str
        For the figure's title.
    threads : int
        CPU threads of the rule; one decodes, the others run the VQT.
    """
    import torch

    videos = [str(v) for v in videos]
    params = ReferenceFrameParams.from_config(alignment)
    torch.set_num_threads(max(1, int(threads) - 1))
    ref = reference_frame_from_videos(videos, params, fps=list(fps))
    info = run_info(config={"alignment": dict(alignment)}, inputs=videos,
                    extra={"n_frames": len(ref.kept), "n_kept": int(ref.kept.sum()),
                           "frame_rate": ref.frame_rate})
    out = save_reference_frame_h5(ref, h5, run_info=info, videos=videos)
    save_png(plot_reference_frame(ref, title=f"session {session}"), figure)
    return out


def register_stage(references: Sequence[PathLike], h5: PathLike, figure: PathLike,
                   alignment: Mapping[str, Any], sessions: Sequence[str], template: str,
                   session: str) -> Path:
    """Register a session's reference frame to the template's: ``registration.h5``.

    Parameters
    ----------
    references : sequence of path-like
        ``reference_frame.h5`` of each of ``sessions``, in that order.
    h5, figure : path-like
        Outputs.
    alignment : mapping
        The ``alignment`` config section.
    sessions : sequence of str
    template, session : str
    """
    paths = [str(p) for p in references]
    images = [read_reference_frame_file(p).reference_frame for p in paths]
    reg = register_session(images, sessions, template, session, alignment)
    res, i, names = reg.result, reg.index, reg.sessions
    registered = reg.registered_image()
    if not res.passed[i]:
        logger.warning("session %s aligns poorly with template %s: z = %.2f < %.2f; its "
                       "transferred ROIs may sit on other parts of the face", session, template,
                       res.z_final[i], res.z_threshold)
    info = run_info(config={"alignment": dict(alignment)}, inputs=paths,
                    extra={"z_final": reg.z_final, "path": reg.route})
    out = save_registration_h5(h5, res, i, names, registered_image=registered,
                               params=dict(alignment), run_info=info)
    fig = plot_registration_pair(
        reg.images[names.index(template)], reg.images[i], registered,
        z=reg.z_final if np.isfinite(reg.z_final) else None,
        title=f"session {session} onto template {template} via {' > '.join(reg.route)}")
    save_png(fig, figure)
    return out


def session_rois_stage(template_rois: PathLike, registration: PathLike, reference: PathLike,
                       rois: PathLike, figure: PathLike, alignment: Mapping[str, Any],
                       template: str, session: str) -> Path:
    """Warp the template session's ROIs and points into a session: its ``rois.h5``.

    Parameters
    ----------
    template_rois : path-like
        The template session's ROIs (``rois_template.h5``).
    registration, reference : path-like
        This session's ``registration.h5`` and ``reference_frame.h5``.
    rois, figure : path-like
        Outputs.
    alignment : mapping
        The ``alignment`` config section (for ``run_info``).
    template, session : str

    Raises
    ------
    RoiError
        The template's ROIs were drawn on frames of another size than this session's.
    """
    roiset = load_rois(template_rois)
    reg = read_registration_file(registration)
    ref = read_reference_frame_file(reference)
    hw = tuple(ref.reference_frame.shape)
    if tuple(roiset.frame_height_width) != hw:
        raise RoiError(f"{template_rois}: ROIs drawn on {roiset.frame_height_width} frames, but "
                       f"session {session}'s frames are {hw}; sessions must share a frame size")
    source = f"session {session}"
    if reg.remappingIdx is not None:
        moved = transfer_rois(roiset, remappingIdx=reg.remappingIdx, source=source)
    else:
        moved = transfer_rois(roiset, warp_matrix=reg.warp_matrix, source=source)
    info = run_info(config={"alignment": dict(alignment)}, inputs=[template_rois, registration],
                    extra={"template_session": template, "z_final": reg.z_final,
                           "passed": reg.passed, "n_points": len(moved.points())})
    save_rois_h5(moved, rois, run_info=info, example_image=ref.mean_still_frame)
    fig = plot_rois(ref.reference_frame_uint8, moved)
    fig.suptitle(f"session {session}: ROIs and points of template {template} "
                 f"(alignment z = {reg.z_final:.1f})", fontsize="small")
    save_png(fig, figure, bbox_inches="tight")
    return Path(rois)


def alignment_overview_stage(registrations: Sequence[PathLike], figure: PathLike,
                             scores: PathLike, table: PathLike, sessions: Sequence[str],
                             template: str) -> None:
    """All sessions' registered reference frames, their scores, and a summary table.

    Parameters
    ----------
    registrations : sequence of path-like
        ``registration.h5`` of each of ``sessions``, in that order.
    figure, scores, table : path-like
        Outputs: registered reference frames (PNG), scores (PNG), summary (TSV).
    sessions : sequence of str
    template : str
    """
    import pandas as pd

    sessions = list(sessions)
    regs = [read_registration_file(p) for p in registrations]
    t_idx = sessions.index(template)
    result = RegistrationResult(
        warp_matrices=np.stack([r.warp_matrix for r in regs]),
        z_initial=np.array([r.z_initial for r in regs]),
        z_final=np.array([r.z_final for r in regs]), passed=np.array([r.passed for r in regs]),
        paths=[[sessions.index(s) for s in r.path] for r in regs], template_index=t_idx,
        method=regs[0].method, z_threshold=regs[0].z_threshold,
        z_matrix=next((r.z_matrix for r in regs if r.z_matrix is not None), None))
    save_png(plot_registered_images([r.registered_reference_frame for r in regs], sessions,
                                    result.z_final, result.z_threshold, template_index=t_idx),
             figure)
    save_png(plot_alignment_scores(result, names=sessions), scores)
    summary = pd.DataFrame({
        "session": sessions, "template_session": template, "z_initial": result.z_initial,
        "z_final": result.z_final, "passed": result.passed,
        "path": [" > ".join(r.path) for r in regs],
        "warp_matrix": [";".join(f"{v:.6g}" for v in r.warp_matrix.ravel()) for r in regs],
    })
    with atomic_path(table) as tmp:
        summary.to_csv(tmp, sep="\t", index=False)
