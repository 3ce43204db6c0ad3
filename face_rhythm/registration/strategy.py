"""How the workflow registers one session: config words -> library words, and the strategy
"directly onto the template first, then search all paths".

:func:`library_options` translates the ``alignment`` section (:class:`~.params.
AlignmentParams`) into the arguments of :func:`~.register.register_images`;
:func:`register_session` registers one session's reference frame to the template's:

1. with ``template_method: fixed``, the session alone onto the template; if that passes (or
   the path search is off, or there are at most two sessions) it is the answer;
2. otherwise all sessions' reference frames, with the template method and path search of the
   config, so that a failing session can be routed through better-matching ones.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .params import AlignmentParams
from .register import RegistrationResult, register_images
from .warps import remap_images

logger = logging.getLogger(__name__)

__all__ = ["RegisterOptions", "SessionRegistration", "library_options", "register_session"]

#: Config backend names -> :data:`~.methods.METHODS` names (YAML reads ``Null`` as None).
_BACKEND_WORDS: dict[str | None, str] = {"Null": "NullRegistration", None: "NullRegistration"}
#: Config template methods -> :func:`~.register.register_images` template methods.
_TEMPLATE_METHOD_WORDS = {"fixed": "image"}


@dataclasses.dataclass(frozen=True)
class RegisterOptions:
    """Arguments of :func:`~.register.register_images` from the ``alignment`` section.

    Attributes
    ----------
    method : str
        Backend name of :data:`~.methods.METHODS`.
    kwargs_method : dict
        Backend constructor arguments (``kwargs_backend`` plus ECC's ``mode_transform`` or
        RoMa's ``device``).
    kwargs_fit : dict
        ``fit_rigid`` arguments (RoMa: the RANSAC ``constraint``).
    template_method : {"image", "sequential"}
    z_threshold : float
    use_match_search : bool
    nonrigid : str or None
    """

    method: str
    kwargs_method: dict[str, Any]
    kwargs_fit: dict[str, Any]
    template_method: str
    z_threshold: float
    use_match_search: bool
    nonrigid: str | None

    def common(self) -> dict[str, Any]:
        """The keyword arguments shared by every :func:`register_images` call."""
        return {"method": self.method, "kwargs_method": dict(self.kwargs_method),
                "kwargs_fit": dict(self.kwargs_fit), "z_threshold": self.z_threshold,
                "nonrigid": self.nonrigid}


def library_options(alignment: AlignmentParams | Mapping[str, Any] | None) -> RegisterOptions:
    """Translate the ``alignment`` section into :func:`register_images` arguments.

    Parameters
    ----------
    alignment : AlignmentParams or mapping
        The config section (absent keys at their defaults).

    Returns
    -------
    RegisterOptions
    """
    p = AlignmentParams.from_config(alignment)
    backend = _BACKEND_WORDS.get(p.backend, p.backend)
    kwargs = dict(p.kwargs_backend or {})
    kwargs_fit: dict[str, Any] = {}
    if backend == "ECC_cv2":
        kwargs.setdefault("mode_transform", p.mode_transform)
    elif backend == "RoMa":
        kwargs.setdefault("device", p.device)
        kwargs_fit["constraint"] = p.mode_transform
    return RegisterOptions(
        method=backend, kwargs_method=kwargs, kwargs_fit=kwargs_fit,
        template_method=_TEMPLATE_METHOD_WORDS.get(p.template_method, p.template_method),
        z_threshold=float(p.z_threshold), use_match_search=bool(p.use_match_search),
        nonrigid=p.nonrigid)


@dataclasses.dataclass
class SessionRegistration:
    """One session registered to the template.

    Attributes
    ----------
    result : RegistrationResult
        Over the images that were registered (the pair, or all sessions).
    sessions : list of str
        Names of ``result``'s images, in its order.
    images : list of (H, W) arrays
        The reference frames ``result`` is about.
    index : int
        This session's index in ``result``.
    """

    result: RegistrationResult
    sessions: list[str]
    images: list[np.ndarray]
    index: int

    @property
    def route(self) -> list[str]:
        """Session names from this session to the template."""
        return [self.sessions[k] for k in self.result.paths[self.index]]

    @property
    def z_final(self) -> float:
        """This session's final alignment z-score."""
        return float(self.result.z_final[self.index])

    def registered_image(self) -> np.ndarray:
        """(H, W) this session's reference frame warped into the template's frame."""
        im = self.images[self.index]
        h, w = im.shape
        return remap_images(im, self.result.remappingIdx(self.index, (h, w)),
                            border_value=float(im.mean()))


def register_session(images: Sequence[np.ndarray], sessions: Sequence[str], template: str,
                     session: str, alignment: AlignmentParams | Mapping[str, Any] | None
                     ) -> SessionRegistration:
    """Register ``session``'s reference frame to ``template``'s (the workflow's strategy).

    Parameters
    ----------
    images : sequence of (H, W)
        Reference frames of ``sessions``, in that order.
    sessions : sequence of str
        Session names (they include ``template`` and ``session``).
    template, session : str
    alignment : AlignmentParams or mapping
        The ``alignment`` config section.

    Returns
    -------
    SessionRegistration
    """
    sessions, images = list(sessions), list(images)
    opts = library_options(alignment)
    common = opts.common()
    if opts.template_method == "image":
        # this session straight onto the template; all sessions only if that fails
        pair = [sessions.index(template), sessions.index(session)]
        if pair[0] == pair[1]:
            pair = pair[:1]
        first = register_images([images[k] for k in pair], template=0, template_method="image",
                                **common)
        if first.passed.all() or not opts.use_match_search or len(sessions) <= 2:
            names = [sessions[k] for k in pair]
            return SessionRegistration(first, names, [images[k] for k in pair],
                                       names.index(session))
        logger.info("direct registration failed (z = %.2f); searching paths", first.z_final[-1])
    result = register_images(images, template=sessions.index(template),
                             template_method=opts.template_method,
                             use_match_search=opts.use_match_search, **common)
    return SessionRegistration(result, sessions, images, sessions.index(session))
