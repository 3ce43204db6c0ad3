"""The workflow's registration strategy, without Snakemake: config words -> library words,
and "directly onto the template first, then search all paths"."""

from __future__ import annotations

import numpy as np
import pytest

from face_rhythm.registration import RegistrationResult, library_options, register_session
from face_rhythm.registration import strategy as st


@pytest.mark.parametrize("backend, method", [("Null", "NullRegistration"),
                                             (None, "NullRegistration"),
                                             ("NullRegistration", "NullRegistration"),
                                             ("PhaseCorrelation", "PhaseCorrelation")])
def test_backend_words(backend, method):
    opts = library_options({"backend": backend})
    assert opts.method == method
    assert opts.kwargs_method == {} and opts.kwargs_fit == {}


def test_ecc_and_roma_get_the_transform_and_device():
    ecc = library_options({"mode_transform": "affine", "kwargs_backend": {"n_iter": 50}})
    assert ecc.method == "ECC_cv2"
    assert ecc.kwargs_method == {"n_iter": 50, "mode_transform": "affine"}
    assert ecc.kwargs_fit == {}
    # kwargs_backend wins over the section's mode_transform
    assert library_options({"kwargs_backend": {"mode_transform": "translation"}}
                           ).kwargs_method == {"mode_transform": "translation"}
    roma = library_options({"backend": "RoMa", "mode_transform": "homography", "device": "cuda"})
    assert roma.kwargs_method == {"device": "cuda"}
    assert roma.kwargs_fit == {"constraint": "homography"}


def test_template_method_and_the_rest():
    opts = library_options({"template_method": "fixed", "z_threshold": 3, "nonrigid": "farneback",
                            "use_match_search": False})
    assert opts.template_method == "image"
    assert opts.z_threshold == 3.0 and isinstance(opts.z_threshold, float)
    assert opts.nonrigid == "farneback" and opts.use_match_search is False
    assert library_options({"template_method": "sequential"}).template_method == "sequential"
    assert set(opts.common()) == {"method", "kwargs_method", "kwargs_fit", "z_threshold",
                                  "nonrigid"}


def _texture(seed: int = 0, hw=(96, 128)) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    a = cv2.GaussianBlur(rng.normal(size=hw).astype(np.float32), (0, 0), 2.0)
    return (a - a.min()) / (a.max() - a.min())


def test_direct_registration_of_a_shifted_session():
    t = _texture()
    moved = np.roll(t, (3, -5), axis=(0, 1))
    other = _texture(seed=1)
    reg = register_session([t, other, moved], ["a", "b", "c"], "a", "c",
                           {"backend": "PhaseCorrelation"})
    assert reg.sessions == ["a", "c"] and reg.index == 1 and reg.route == ["c", "a"]
    assert reg.result.passed.all()
    # moving(W p) = template(p): the roll moved content by (+5 x... ) -> dx = -5, dy = 3
    assert np.allclose(reg.result.warp_matrices[1][:2, 2], [-5, 3], atol=0.2)
    registered = reg.registered_image()
    assert np.abs(registered[10:-10, 10:-10] - t[10:-10, 10:-10]).mean() < 0.02
    # the template onto itself: one image
    self_reg = register_session([t, other, moved], ["a", "b", "c"], "a", "a",
                                {"backend": "Null"})
    assert self_reg.sessions == ["a"] and self_reg.index == 0


def _fake_result(n: int, passed: bool) -> RegistrationResult:
    z = np.full(n, 10.0 if passed else 1.0)
    return RegistrationResult(warp_matrices=np.tile(np.eye(3), (n, 1, 1)), z_initial=z,
                              z_final=z, passed=z >= 4.0, paths=[[i] for i in range(n)],
                              template_index=0, method="fake", z_threshold=4.0)


@pytest.mark.parametrize("cfg, n_sessions, calls", [
    ({}, 3, [(2, "image"), (3, "image")]),                             # direct fails: search
    ({"use_match_search": False}, 3, [(2, "image")]),                  # no search
    ({}, 2, [(2, "image")]),                                           # nothing to route through
    ({"template_method": "sequential"}, 3, [(3, "sequential")]),       # chain: all at once
])
def test_search_all_paths_only_when_the_direct_registration_fails(monkeypatch, cfg, n_sessions,
                                                                  calls):
    seen = []

    def fake(images, template, template_method, use_match_search=True, **kw):
        seen.append((len(images), template_method))
        return _fake_result(len(images), passed=False)

    monkeypatch.setattr(st, "register_images", fake)
    names = ["a", "b", "c"][:n_sessions]
    images = [np.zeros((8, 8))] * n_sessions
    reg = register_session(images, names, "a", names[-1], cfg)
    assert seen == calls
    assert reg.sessions[reg.index] == names[-1]
    assert len(reg.sessions) == calls[-1][0]
