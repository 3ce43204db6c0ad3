"""Known-answer tests of face_rhythm.registration (warps, backends, scores, path search)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from face_rhythm import registration as R

Z_THR = 4.0


@pytest.fixture(scope="module")
def frame(shared_data) -> np.ndarray:
    """First frame of the real mouse-face video, grayscale, downsampled 3x: (194, 260) f32."""
    from face_rhythm.video import read_frames

    g = read_frames(shared_data / "videos" / "mouseflow_face_75fps.mp4", 0, grayscale=True)
    small = cv2.resize(g, (g.shape[1] // 3, g.shape[0] // 3), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32)


def warp_known(img: np.ndarray, w: np.ndarray, gain: float = 1.0, offset: float = 0.0,
               noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Moving image with moving(W p) = template(p), plus brightness change and noise."""
    h, wd = img.shape
    m = R.as_3x3(w)
    out = cv2.warpPerspective(img, m, (wd, h), flags=cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REFLECT)
    rng = np.random.default_rng(seed)
    return (out * gain + offset + rng.normal(0, noise, out.shape)).astype(np.float32)


def rms_field(w_est: np.ndarray, w_true: np.ndarray, hw) -> float:
    """RMS distance (px) between two warps' remap fields over the whole image."""
    h, w = hw
    a = R.warp_matrix_to_remappingIdx(w_est, w, h)
    b = R.warp_matrix_to_remappingIdx(w_true, w, h)
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1))))


def rot(hw, deg, shift=(0.0, 0.0), scale=1.0) -> np.ndarray:
    h, w = hw
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), deg, scale)
    m[:, 2] += shift
    return m


# ----------------------------------------------------------------------------- ECC, PC


@pytest.mark.parametrize("mode,kind", [("translation", "translation"),
                                       ("euclidean", "rotation"),
                                       ("affine", "affine"),
                                       ("homography", "homography")])
def test_ecc_recovers_known_warp(frame, mode, kind):
    hw = frame.shape
    w_true = {"translation": np.array([[1, 0, 6.3], [0, 1, -4.7]]),
              "rotation": rot(hw, 4.0, (3.2, 2.1)),
              "affine": np.array([[1.03, 0.02, -5.4], [-0.015, 0.98, 3.3]]),
              "homography": np.array([[1.02, 0.015, -7.5], [-0.01, 0.99, 5.6],
                                      [4e-5, -6e-5, 1.0]])}[kind]
    mov = warp_known(frame, w_true, gain=1.3, offset=-12, noise=3.0, seed=1)
    est = R.ECC_cv2(mode_transform=mode, n_iter=100, termination_eps=1e-6).fit_rigid(frame, mov)
    assert est.shape == (3, 3)
    assert rms_field(est, w_true, hw) < 0.5
    # the registered image matches the template far better than the unregistered one
    back = R.remap_images(mov, R.warp_matrix_to_remappingIdx(est, hw[1], hw[0]))
    inner = (slice(20, -20), slice(20, -20))
    c_after = np.corrcoef(back[inner].ravel(), frame[inner].ravel())[0, 1]
    c_before = np.corrcoef(mov[inner].ravel(), frame[inner].ravel())[0, 1]
    assert c_after > 0.97 > c_before


def test_ecc_retries_with_a_wider_gaussian_when_it_does_not_converge(frame, monkeypatch,
                                                                     caplog):
    """A non-converging ECC is retried with gaussFiltSize + auto_fix_gaussFilt_step; without
    the step (or after max_retries) it fails with a message naming the attempts."""
    w_true = np.array([[1, 0, 3.2], [0, 1, -2.4]])
    mov = warp_known(frame, w_true, noise=2.0, seed=4)
    sizes = []
    original = R.ECC_cv2._pyramid

    def flaky(self, t, m, mask, g, init):
        sizes.append(g)
        if g < 21:  # the first two attempts "do not converge"
            raise cv2.error("findTransformECC: The algorithm stopped before its convergence")
        return original(self, t, m, mask, g, init)

    monkeypatch.setattr(R.ECC_cv2, "_pyramid", flaky)
    ecc = R.ECC_cv2(mode_transform="translation", gaussFiltSize=1, auto_fix_gaussFilt_step=10,
                    init_phase_correlation=False)
    with caplog.at_level("INFO", logger=R.logger.name):
        est = ecc.fit_rigid(frame, mov)
    assert sizes == [1, 11, 21]
    assert rms_field(est, w_true, frame.shape) < 0.5
    assert sum("retrying with gaussFiltSize" in r.getMessage() for r in caplog.records) == 2
    sizes.clear()
    with pytest.raises(RuntimeError, match=r"did not converge after 1 attempt"):
        R.ECC_cv2(mode_transform="translation", auto_fix_gaussFilt_step=None,
                  init_phase_correlation=False).fit_rigid(frame, mov)
    with pytest.raises(RuntimeError, match=r"after 2 attempt"):
        R.ECC_cv2(mode_transform="translation", max_retries=1,
                  init_phase_correlation=False).fit_rigid(frame, mov)


@pytest.mark.parametrize("shift", [(7.4, -3.6), (-21.0, 13.5)])
def test_phase_correlation_translation(frame, shift):
    w_true = np.array([[1, 0, shift[0]], [0, 1, shift[1]]])
    mov = warp_known(frame, w_true, gain=0.8, offset=20, noise=3.0, seed=2)
    est = R.PhaseCorrelationRegistration().fit_rigid(frame, mov)
    assert np.allclose(est[:2, :2], np.eye(2))
    assert np.hypot(*(est[:2, 2] - shift)) < 1.0
    assert rms_field(est, w_true, frame.shape) < 1.0
    # band-passed variant also lands within 1 px
    est_bp = R.PhaseCorrelationRegistration(bandpass_freqs=[1, 60]).fit_rigid(frame, mov)
    assert np.hypot(*(est_bp[:2, 2] - shift)) < 1.0


def test_null_registration_and_unknown_method():
    assert np.array_equal(R.NullRegistration().fit_rigid(np.zeros((8, 8)), np.ones((8, 8))),
                          np.eye(3))
    with pytest.raises(R.RegistrationError, match="not in"):
        R.make_registration_method("SIFT")
    with pytest.raises(R.RegistrationError, match="mode_transform"):
        R.ECC_cv2(mode_transform="rigid")


# ----------------------------------------------------------------------------- warps


def test_matrix_compose_invert_round_trip():
    hw = (60, 80)
    a = rot(hw, 7.0, (3.0, -2.0), 1.05)
    b = np.array([[1.0, 0.1, 4.0], [-0.05, 0.95, 1.0], [1e-4, -2e-4, 1.0]])
    ident = R.compose_transform_matrices(a, R.invert_warp_matrix(a))
    assert ident.shape == (2, 3)
    assert np.allclose(ident, np.eye(3)[:2], atol=1e-12)
    assert np.allclose(R.compose_transform_matrices(b, R.invert_warp_matrix(b)), np.eye(3),
                       atol=1e-12)
    # composed matrix transports points like applying both in turn (C -> B -> A)
    p = np.array([[10.0, 20.0], [50.5, 3.25]])
    ab_bc = R.transform_points(p, R.compose_transform_matrices(a, b))
    assert np.allclose(ab_bc, R.transform_points(R.transform_points(p, b), a), atol=1e-4)


def test_remap_fields_agree_with_matrices():
    hw = (60, 80)
    h, w = hw
    a = rot(hw, 5.0, (2.0, -1.5))
    b = rot(hw, -3.0, (-1.0, 2.5), 0.97)
    ra, rb = (R.warp_matrix_to_remappingIdx(m, w, h) for m in (a, b))
    # composition of fields equals the field of the composed matrix (interior: no edge loss)
    comp = R.compose_remappingIdx(ra, rb)
    truth = R.warp_matrix_to_remappingIdx(R.compose_transform_matrices(a, b), w, h)
    ok = np.all(np.isfinite(comp), axis=-1)
    assert ok.mean() > 0.8
    assert np.max(np.abs(comp[ok] - truth[ok])) < 1e-3
    # inversion of a field equals the field of the inverse matrix
    inv = R.invert_remappingIdx(ra)
    inv_truth = R.warp_matrix_to_remappingIdx(R.invert_warp_matrix(a), w, h)
    ok = np.all(np.isfinite(inv), axis=-1)
    assert ok.mean() > 0.8
    assert np.max(np.abs(inv[ok] - inv_truth[ok])) < 1e-2
    # field composed with its inverse is the identity grid
    ident = R.compose_remappingIdx(ra, inv)
    grid = R.flowField_to_remappingIdx(np.zeros((h, w, 2), np.float32))
    ok = np.all(np.isfinite(ident), axis=-1)
    assert np.max(np.abs(ident[ok] - grid[ok])) < 1e-2
    # flow <-> remap helpers are inverse of each other
    assert np.allclose(R.remappingIdx_to_flowField(ra) + grid, ra)


def test_remap_points_and_images(frame):
    h, w = frame.shape
    m = rot((h, w), 3.0, (4.0, -2.0))
    ri = R.warp_matrix_to_remappingIdx(m, w, h)
    pts = np.array([[30.0, 40.0], [100.5, 77.25], [200.0, 150.0]])
    assert np.allclose(R.remap_points(pts, ri), R.transform_points(pts, m), atol=1e-3)
    # cv2 and torch backends give the same warp; images go A -> template frame and back
    out_cv = R.remap_images(frame, ri, backend="cv2")
    out_t = R.remap_images(frame, ri, backend="torch")
    inner = (slice(10, -10), slice(10, -10))
    assert np.max(np.abs(out_cv[inner] - out_t[inner])) < 0.05
    back = R.remap_images(out_cv, R.warp_matrix_to_remappingIdx(R.invert_warp_matrix(m), w, h))
    assert np.median(np.abs(back[30:-30, 30:-30] - frame[30:-30, 30:-30])) < 3
    u8 = R.remap_images(frame.astype(np.uint8), ri)
    assert u8.dtype == np.uint8 and u8.shape == frame.shape
    with pytest.raises(R.RegistrationError, match=r"\(H, W, 2\)"):
        R.remap_images(frame, ri[..., 0])


def test_apply_warp_transform_matches_remap(frame):
    h, w = frame.shape
    m = rot((h, w), -2.0, (1.5, 3.0))
    a = R.apply_warp_transform(frame, m)
    b = R.remap_images(frame, R.warp_matrix_to_remappingIdx(m, w, h))
    assert np.max(np.abs(a[5:-5, 5:-5] - b[5:-5, 5:-5])) < 0.1


def test_fit_warp_to_points_known_answer():
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 200, (200, 2))
    m = np.array([[0.98, -0.1, 5.0], [0.1, 0.98, -3.0]])
    dst = src @ m[:, :2].T + m[:, 2]
    dst[:20] += rng.uniform(-40, 40, (20, 2))  # outliers
    for c in ("affine", "similarity", "homography"):
        est = R.fit_warp_to_points(src, dst, constraint=c)
        assert np.allclose(est[:2], m, atol=1e-2), c
    with pytest.raises(R.RegistrationError, match="constraint"):
        R.fit_warp_to_points(src, dst, constraint="banana")


# ----------------------------------------------------------------------------- scores, paths


def test_alignment_checker_good_vs_bad(frame):
    h, w = frame.shape
    chk = R.ImageAlignmentChecker((h, w), radius_in=4, radius_out=20)
    rng = np.random.default_rng(4)
    noisy = frame + rng.normal(0, 3, frame.shape).astype(np.float32)
    shifted = warp_known(frame, np.array([[1, 0, 25.0], [0, 1, -18.0]]), noise=3.0)
    unrelated = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2)
    z = chk.score_alignment([noisy, shifted, unrelated], [frame])["z_in"][:, 0]
    assert z[0] > 10 * Z_THR
    assert z[1] < Z_THR and z[2] < Z_THR
    stats = chk.score_alignment(np.stack([noisy, shifted]))
    assert stats["z_in"].shape == (2, 2) and stats["pc"].shape == (2, 2, h, w)


def test_best_paths_route_through_intermediate():
    z = np.array([[np.nan, 80.0, 1.0, 50.0],
                  [90.0, np.nan, 70.0, 2.0],
                  [0.5, 60.0, np.nan, 1.0],
                  [40.0, 1.0, 2.0, np.nan]])
    paths, cost = R.best_paths_to_template(z, template=0, z_threshold=Z_THR)
    assert paths[0] == [0] and paths[1] == [1, 0] and paths[3] == [3, 0]
    assert paths[2] == [2, 1, 0]
    assert cost[2] == pytest.approx((1 - 60 / 64) + (1 - 90 / 94))
    z_no = z.copy()
    z_no[2, :] = 0.5
    paths, cost = R.best_paths_to_template(z_no, template=0, z_threshold=Z_THR)
    assert paths[2] is None and np.isinf(cost[2])
    pred = np.full((3, 3), -9999)
    with pytest.raises(ValueError, match="no path"):
        R.get_path_between_nodes(1, 0, pred)


def test_bad_pair_rerouted_through_intermediate_session(frame):
    """C is 44 deg from the template (ECC fails), B is halfway: C reaches A through B."""
    hw = frame.shape
    w_b = rot(hw, 22.0, (4.0, -3.0))
    w_c = rot(hw, 44.0, (6.0, -5.0))
    ims = [frame + np.random.default_rng(5).normal(0, 2, hw).astype(np.float32),
           warp_known(frame, w_b, gain=1.1, noise=2.0, seed=6),
           warp_known(frame, w_c, gain=0.9, offset=8, noise=2.0, seed=7)]
    res = R.register_images(ims, template=0, template_method="image", method="ECC_cv2",
                            kwargs_method={"mode_transform": "euclidean", "n_iter": 100,
                                           "termination_eps": 1e-6},
                            z_threshold=Z_THR, use_match_search=True)
    assert res.z_initial[2] < Z_THR  # the direct registration of the bad pair fails
    assert res.z_matrix is not None and res.z_matrix[2, 0] < Z_THR
    assert res.paths[2] == [2, 1, 0]
    assert res.paths[1] == [1, 0]
    assert res.passed.all() and res.z_final[2] > 10 * Z_THR
    assert rms_field(res.warp_matrices[2], w_c, hw) < 0.5
    assert rms_field(res.warp_matrices[1], w_b, hw) < 0.5


def test_sequential_chain_composes(frame):
    hw = frame.shape
    ws = [rot(hw, -3.0, (2.0, 1.0)), np.eye(3)[:2], rot(hw, 2.5, (-3.0, 2.0)),
          rot(hw, 5.0, (-5.0, 3.5))]
    ims = [warp_known(frame, m, noise=2.0, seed=10 + i) for i, m in enumerate(ws)]
    res = R.register_images(ims, template=1, template_method="sequential", method="ECC_cv2",
                            kwargs_method={"mode_transform": "euclidean", "n_iter": 100,
                                           "termination_eps": 1e-6},
                            use_match_search=False)
    assert res.paths == [[0, 1], [1], [2, 1], [3, 2, 1]]
    for i in (0, 2, 3):
        assert rms_field(res.warp_matrices[i], ws[i], hw) < 0.5, i
    assert res.passed.all()


# ----------------------------------------------------------------------------- non-rigid


def test_farneback_refines_smooth_deformation(frame):
    h, w = frame.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xx, yy], -1)
    # moving(q) = template(g(q)): g warps the template onto the moving image
    g = grid + np.stack([2.0 * np.sin(2 * np.pi * yy / h), 1.5 * np.cos(2 * np.pi * xx / w)], -1)
    mov = R.remap_images(frame, g, border_mode="reflect")
    ri = R.fit_nonrigid(frame, mov, method="farneback")  # template grid -> moving coords
    ident = R.compose_remappingIdx(g, ri, fill_value=None)  # g(ri(p)) should be p
    err = np.sqrt(np.sum((ident - grid) ** 2, -1))
    grad = np.hypot(*np.gradient(cv2.GaussianBlur(frame, (0, 0), 2)))
    textured = grad > np.median(grad)
    textured[:20] = textured[-20:] = textured[:, :20] = textured[:, -20:] = False
    err_before = np.sqrt(np.sum((g - grid) ** 2, -1))
    assert np.sqrt(np.mean(err[textured] ** 2)) < 0.5
    assert np.sqrt(np.mean(err_before[textured] ** 2)) > 1.5
    if not hasattr(cv2, "optflow"):
        with pytest.raises(ImportError, match=r"face-rhythm\[multisession\]"):
            R.fit_nonrigid(frame, mov, method="deepflow")


# ----------------------------------------------------------------------------- RoMa, weights


def test_roma_missing_package_names_extra():
    try:
        import romatch  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install face-rhythm\[multisession\]"):
            R.RoMa()
    else:  # pragma: no cover - the extra is installed
        pytest.skip("romatch is installed; cannot exercise its absence")


def test_fetch_weights_hash_check_and_fallback(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    good = src / "weights_good.bin"
    good.write_bytes(b"face-rhythm weights " * 100)
    bad = src / "weights_bad.bin"
    bad.write_bytes(b"tampered")
    sha = hashlib.sha256(good.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    entry = {"filename": "w.pth", "url": bad.as_uri(), "sha256": sha}
    fallback = {"filename": "w.pth", "url": good.as_uri(), "sha256": sha}
    path = R.fetch_weights(entry, fallback, cache_dir=cache, progress=False)
    assert path == cache / "w.pth" and path.read_bytes() == good.read_bytes()
    # cached: no download needed even if every URL is broken now
    again = R.fetch_weights({**entry, "url": (src / "gone").as_uri()}, None, cache_dir=cache,
                            progress=False)
    assert again == path
    # a corrupted cache is detected and no verified source remains
    path.write_bytes(b"corrupt")
    with pytest.raises(RuntimeError, match="hash mismatch"):
        R.fetch_weights(entry, None, cache_dir=cache, progress=False)
    assert not (cache / "w.pth").exists()
    with pytest.raises(R.RegistrationError, match="unverified"):
        R.fetch_weights({"filename": "x.pth", "url": good.as_uri()}, cache_dir=cache)
    md5 = hashlib.md5(good.read_bytes()).hexdigest()
    p2 = R.fetch_weights({"filename": "m.pth", "url": good.as_uri(), "md5": md5},
                         cache_dir=cache, progress=False)
    assert R.hash_file(p2, "SHA256") == sha
