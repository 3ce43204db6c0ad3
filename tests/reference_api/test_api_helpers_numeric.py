"""Known answers for the original's numerical ``face_rhythm.helpers`` names.

``Toeplitz_convolution2d`` against ``scipy.signal.convolve2d``, ``torch_hilbert`` against
``scipy.signal.hilbert``, the VQT doors against ``vqt`` and planted sinusoids, the CP helpers
on a planted low-rank tensor (orthonormal, zero-mean factors: every component explains
exactly ``w_r**2 / sum(w**2)`` of the variance).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import scipy.sparse
import scipy.stats
import torch

import face_rhythm.helpers as H
from face_rhythm.errors import FaceRhythmError

RNG = np.random.default_rng(14)


# ----------------------------------------------------------------------------- the door
def test_helpers_door_re_exports_the_numerical_names():
    from face_rhythm.decomposition import cp_tools
    from face_rhythm.signals import Toeplitz_convolution2d
    from face_rhythm.spectral_analysis import filters

    assert H.Toeplitz_convolution2d is Toeplitz_convolution2d
    assert H.VQT is filters.VQT and H.make_VQT_filters is filters.make_VQT_filters
    assert H.order_cp_factors_by_EVR is cp_tools.order_cp_factors_by_EVR
    for name in ("cosine_kernel_2D", "bounded_logspace", "gaussian", "torch_hilbert",
                 "generate_multiphasic_sinewave", "cp_to_dense", "tensorly_cp_to_device",
                 "cp_reconstruction_EVR"):
        assert name in H.__all__ and callable(getattr(H, name)), name


# ----------------------------------------------------------------------------- Toeplitz
@pytest.mark.parametrize("x_shape, k_shape", [((7, 9), (3, 3)), ((8, 6), (4, 2)),
                                               ((5, 11), (2, 5)), ((6, 6), (6, 6)),
                                               ((4, 5), (1, 1))])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_toeplitz_convolution_equals_scipy_convolve2d(x_shape, k_shape, mode):
    k = RNG.standard_normal(k_shape)
    xs = RNG.standard_normal((5,) + x_shape)
    ref = np.stack([scipy.signal.convolve2d(x, k, mode=mode) for x in xs])
    conv = H.Toeplitz_convolution2d(x_shape=x_shape, k=k, mode=mode)
    assert scipy.sparse.issparse(conv.dt) and conv.dt.shape == (
        conv.so[0] * conv.so[1], x_shape[0] * x_shape[1])
    out = conv(xs.reshape(5, -1), batching=True)
    np.testing.assert_allclose(out, ref.reshape(5, -1), atol=1e-12)
    np.testing.assert_allclose(conv(xs[2], batching=False), ref[2], atol=1e-12)
    # sparse inputs (about 10 % non-zero) give sparse outputs with the same values
    xsp = np.where(RNG.random(xs.shape) < 0.1, xs, 0.0)
    ref_sp = np.stack([scipy.signal.convolve2d(x, k, mode=mode) for x in xsp])
    out_sp = conv(scipy.sparse.csr_matrix(xsp.reshape(5, -1)))
    assert scipy.sparse.issparse(out_sp)
    np.testing.assert_allclose(out_sp.toarray(), ref_sp.reshape(5, -1), atol=1e-12)
    one = conv(scipy.sparse.csr_matrix(xsp[0]), batching=False)
    assert scipy.sparse.issparse(one)
    np.testing.assert_allclose(one.toarray(), ref_sp[0], atol=1e-12)


def test_toeplitz_mode_override_dtype_and_errors():
    k = RNG.random((3, 3)).astype(np.float32)
    x = RNG.random((6, 7)).astype(np.float32)
    conv = H.Toeplitz_convolution2d(x.shape, k)  # default mode 'same'
    assert conv.mode == "same" and conv.dtype == np.float32 and conv.dt.dtype == np.float32
    np.testing.assert_array_equal(conv.k, np.flipud(k))
    np.testing.assert_allclose(conv(x, batching=False, mode="full"),
                               scipy.signal.convolve2d(x, k, mode="full"), rtol=1e-5)
    assert conv(x, batching=False).shape == (6, 7)
    with pytest.raises(FaceRhythmError, match="mode='valid'"):
        H.Toeplitz_convolution2d((2, 7), k, mode="valid")
    with pytest.raises(FaceRhythmError, match="mode="):
        H.Toeplitz_convolution2d((6, 7), k, mode="circular")
    with pytest.raises(FaceRhythmError, match="expected"):
        conv(np.zeros((7, 6)), batching=False)


# ----------------------------------------------------------------------------- small kernels
def test_cosine_kernel_2D_known_values():
    k = H.cosine_kernel_2D(center=(3, 1), image_size=(5, 8), width=4)
    assert k.shape == (5, 8)
    assert k[1, 3] == pytest.approx(1.0) and k.max() == pytest.approx(1.0)
    assert k[1, 4] == pytest.approx(0.5)  # distance 1 = width / 4: half way down
    assert k[1, 5] == pytest.approx(0.0, abs=1e-12)  # distance width / 2 and beyond: 0
    assert (k[4, :] == 0).all()
    assert k[0, 3] == pytest.approx(0.5) and k[2, 3] == pytest.approx(0.5)  # radial
    np.testing.assert_allclose(H.cosine_kernel_2D(), H.cosine_kernel_2D().T)
    k1 = H.cosine_kernel_2D(center=(2, 0), image_size=(7, 0), width=4)  # 1D
    np.testing.assert_allclose(k1, [0, 0.5, 1, 0.5, 0, 0, 0], atol=1e-12)


def test_bounded_logspace_and_gaussian():
    v = H.bounded_logspace(1, 60, 7)
    assert v.shape == (7,) and v[0] == 1 and v[-1] == 60
    np.testing.assert_allclose(v[1:] / v[:-1], (60 / 1) ** (1 / 6))
    x = np.linspace(-4, 6, 101)
    np.testing.assert_allclose(H.gaussian(x, mu=1.0, sig=1.5),
                               scipy.stats.norm.pdf(x, loc=1.0, scale=1.5), rtol=1e-12)
    g = H.gaussian(sig=4)
    assert g.argmax() in (len(g) // 2, (len(g) - 1) // 2) and g.ndim == 1


@pytest.mark.parametrize("N", [None, 64, 101, 40])
@pytest.mark.parametrize("dim", [0, 1])
def test_torch_hilbert_equals_scipy_hilbert(N, dim):
    x = RNG.standard_normal((6, 64)) if dim == 1 else RNG.standard_normal((64, 6))
    got = H.torch_hilbert(torch.as_tensor(x), N=N, dim=dim)
    assert isinstance(got, torch.Tensor) and got.is_complex()
    np.testing.assert_allclose(got.numpy(), scipy.signal.hilbert(x, N=N, axis=dim),
                               atol=1e-10)


def test_generate_multiphasic_sinewave():
    waves, x, phases = H.generate_multiphasic_sinewave(n_samples=500, n_periods=2.5, n_waves=4,
                                                       return_x=True, return_phases=True)
    assert waves.shape == phases.shape == (4, 500) and x.shape == (500,)
    assert x[0] == 0 and x[-1] == pytest.approx(2 * np.pi * 2.5)
    np.testing.assert_allclose(waves[0], np.cos(x))
    np.testing.assert_allclose(waves[1], np.cos(x - np.pi / 2), atol=1e-12)  # quarter cycle
    np.testing.assert_allclose(waves.sum(0), 0, atol=1e-12)  # evenly spaced phases
    only = H.generate_multiphasic_sinewave(n_samples=10)
    assert isinstance(only, np.ndarray) and only.shape == (3, 10)
    w2, x2 = H.generate_multiphasic_sinewave(n_samples=10, return_x=True)
    assert w2.shape == (3, 10) and x2.shape == (10,)


# ----------------------------------------------------------------------------- VQT
def test_make_VQT_filters_shapes_frequencies_and_door_onto_vqt():
    import vqt.helpers

    filts, freqs, wins = H.make_VQT_filters(Fs_sample=100, Q_lowF=3, Q_highF=8, F_min=2,
                                            F_max=50, n_freq_bins=12, win_size=301)
    assert isinstance(filts, torch.Tensor) and filts.is_complex()
    assert tuple(filts.shape) == tuple(wins.shape) == (12, 301)
    assert isinstance(freqs, np.ndarray) and freqs.shape == (12,)
    np.testing.assert_allclose(freqs, np.geomspace(2, 50, 12), rtol=1e-6)  # F_max at Nyquist
    np.testing.assert_allclose(filts.abs().sum(1).numpy(), 1.0, rtol=1e-5)  # unit L1
    ref, _, _ = vqt.helpers.make_VQT_filters(Fs_sample=100, Q_lowF=3, Q_highF=8, F_min=2,
                                             F_max=50, n_freq_bins=12, win_size=301,
                                             window_type="gaussian")
    np.testing.assert_array_equal(filts.numpy(), ref.numpy())
    # each filter passes its own centre frequency best
    spectrum = np.abs(np.fft.fft(filts.numpy(), n=4096, axis=1))  # analytic: f >= 0 only
    peak_hz = np.abs(np.fft.fftfreq(4096, 1 / 100)[spectrum.argmax(1)])
    np.testing.assert_allclose(peak_hz[:-1], freqs[:-1], rtol=0.05)
    _, _, w_left = H.make_VQT_filters(Fs_sample=100, F_min=2, F_max=40, n_freq_bins=4,
                                         win_size=101, symmetry="left")
    assert (w_left[:, 51:] == 0).all() and (w_left[:, :50] > 0).any()
    with pytest.raises(FaceRhythmError, match="odd"):
        H.make_VQT_filters(win_size=500)
    with pytest.raises(FaceRhythmError, match="Nyquist"):
        H.make_VQT_filters(Fs_sample=100, F_max=51)


def test_VQT_finds_planted_frequencies_and_matches_vqt():
    import vqt

    fs, n = 120.0, 1200
    t = np.arange(n) / fs
    X = np.stack([np.sin(2 * np.pi * 5 * t), np.sin(2 * np.pi * 17 * t), np.zeros(n)])
    tr = H.VQT(Fs_sample=fs, Q_lowF=4, Q_highF=10, F_min=2, F_max=40, n_freq_bins=30,
               win_size=241, downsample_factor=8, batch_size=2, progressBar=False)
    assert not tr.using_custom_filters and tr.freqs.shape == (30,)
    specs, x_axis, freqs = tr(X)
    n_out = int(np.ceil((n - 241 + 1) / 8))
    assert tuple(specs.shape) == (3, 30, n_out) and tuple(x_axis.shape) == (n_out,)
    assert float(x_axis[0]) == pytest.approx((241 - 1) / 2 + 3.5)  # centre of the first bin
    for row, f0 in ((0, 5.0), (1, 17.0)):
        peak = freqs[specs[row].mean(-1).argmax()]
        assert abs(np.log(peak / f0)) < np.log(freqs[1] / freqs[0]), (f0, peak)
    assert float(specs[2].abs().max()) == 0.0
    ref = vqt.VQT(Fs_sample=fs, filters=tr.filters, downsample_factor=8, padding="valid",
                  take_abs=True, verbose=0)(torch.as_tensor(X, dtype=torch.float32))
    np.testing.assert_allclose(specs.numpy(), ref.numpy(), rtol=1e-6, atol=1e-9)
    # complex output, custom filters, 1D input, 'same' padding
    cplx = H.VQT(Fs_sample=fs, filters=tr.filters, downsample_factor=1, padding="same",
                 return_complex=True, progressBar=False)
    s2, x2, f2 = cplx(X[0])
    assert cplx.using_custom_filters and f2 is None and s2.is_complex()
    assert tuple(s2.shape) == (1, 30, n) and len(x2) == n
    mag = vqt.VQT(Fs_sample=fs, filters=tr.filters, downsample_factor=1, padding="same",
                  take_abs=True, verbose=0)(torch.as_tensor(X[:1], dtype=torch.float32))
    np.testing.assert_allclose(s2.abs().numpy(), mag.numpy(), rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- CP helpers
def _planted(shapes=(12, 10, 9), w=(2.0, 5.0, 1.0, 3.0)):
    """Orthonormal zero-mean factor columns: EVR of component r is w_r^2 / sum(w^2)."""
    R = len(w)
    factors = []
    for n in shapes:
        a = RNG.standard_normal((n, R))
        a -= a.mean(0)
        factors.append(np.linalg.qr(a)[0])
    return factors, np.asarray(w)


def test_cp_to_dense_numpy_torch_and_cptensor():
    import tensorly as tl

    f, w = _planted()
    dense = H.cp_to_dense(f, w)
    np.testing.assert_allclose(dense, np.einsum("ir,jr,kr,r->ijk", *f, w), atol=1e-12)
    np.testing.assert_allclose(H.cp_to_dense(f), np.einsum("ir,jr,kr->ijk", *f), atol=1e-12)
    dt = H.cp_to_dense([torch.as_tensor(a) for a in f], torch.as_tensor(w))
    assert isinstance(dt, torch.Tensor)
    np.testing.assert_allclose(dt.numpy(), dense, atol=1e-12)
    np.testing.assert_allclose(H.cp_to_dense(tl.cp_tensor.CPTensor((w, f))), dense, atol=1e-12)
    with pytest.raises(FaceRhythmError, match="ranks"):
        H.cp_to_dense([f[0], f[1][:, :2]])


def test_tensorly_cp_to_device():
    import tensorly as tl

    f, w = _planted()
    cp = tl.cp_tensor.CPTensor((torch.as_tensor(w), [torch.as_tensor(a) for a in f]))
    out = H.tensorly_cp_to_device(cp, device="cpu")
    assert out is cp and all(a.device.type == "cpu" for a in out.factors)
    assert isinstance(out.weights, torch.Tensor)
    with pytest.raises(FaceRhythmError, match="CPTensor"):
        H.tensorly_cp_to_device(f)


def test_cp_reconstruction_EVR_on_a_planted_tensor():
    import tensorly as tl

    f, w = _planted()
    X = H.cp_to_dense(f, w)
    assert H.cp_reconstruction_EVR(X, tl.cp_tensor.CPTensor((w, f))) == pytest.approx(1.0)
    scaled = [a * w[None, :] ** (1 / 3) for a in f]  # a plain list: weights ones
    assert H.cp_reconstruction_EVR(X, scaled) == pytest.approx(1.0)
    ev_t = H.cp_reconstruction_EVR(torch.as_tensor(X), [torch.as_tensor(a) for a in scaled])
    assert isinstance(ev_t, torch.Tensor) and float(ev_t) == pytest.approx(1.0)
    # without component 1 (weight 5): 1 - 25 / 39 of the variance is explained
    keep = [0, 2, 3]
    partial = tl.cp_tensor.CPTensor((w[keep], [a[:, keep] for a in f]))
    assert H.cp_reconstruction_EVR(X, partial) == pytest.approx(1 - 25 / 39)


def test_order_cp_factors_by_EVR_recovers_the_planted_energies():
    import tensorly as tl

    f, w = _planted()
    X = H.cp_to_dense(f, w)
    truth = w ** 2 / np.sum(w ** 2)
    order, evrs = H.order_cp_factors_by_EVR(X, f, w)
    np.testing.assert_array_equal(order, [1, 3, 0, 2])
    np.testing.assert_allclose(evrs, truth[order], atol=1e-10)
    o2, e2 = H.order_cp_factors_by_EVR(torch.as_tensor(X),
                                       tl.cp_tensor.CPTensor((w, f)), orthogonalizable_EVR=False)
    np.testing.assert_array_equal(o2, order)
    np.testing.assert_allclose(e2, truth[order], atol=1e-10)
    # wrong weights (ones): the least-squares scale of each component still finds the truth,
    # the raw weights do not
    o3, e3 = H.order_cp_factors_by_EVR(X, f, np.ones(4), orthogonalizable_EVR=True)
    np.testing.assert_array_equal(o3, order)
    np.testing.assert_allclose(e3, truth[order], atol=1e-10)
    _, e4 = H.order_cp_factors_by_EVR(X, f, np.ones(4), orthogonalizable_EVR=False)
    assert not np.allclose(np.sort(e4)[::-1], truth[order], atol=1e-3)
