"""The original's documented ``face_rhythm.rois`` API: ``clahe``, ``ROIs`` (``rois[0]``, mask
keys, every documented parameter by name, GUI mode), ``ROI_Alinger`` and ``Image_Aligner``.

Known answers: images of one synthetic face seen through known camera shifts and rotations
(:mod:`face_rhythm.synthetic`); registered points must land within 0.5 px of the truth.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

import face_rhythm.registration as freg
import face_rhythm.rois as frois
from face_rhythm.errors import FaceRhythmError, RegistrationError, RoiError
from face_rhythm.rois import ROIs, polygon_to_mask
from face_rhythm.synthetic import default_face, demo_rois

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
H, W = 120, 160
SHIFT = (3.4, -2.2)  # camera shift of the moving image, px (x, y)
#: Farneback for 120x160 images (the original's defaults, a 128 px window, are for full frames)
FARNEBACK_SMALL = {"pyr_scale": 0.5, "levels": 3, "winsize": 31, "iterations": 5, "poly_n": 7,
                   "poly_sigma": 1.5}
PTS = np.array([[40.0, 50.0], [100.0, 60.0], [80.0, 90.0], [60.0, 35.0]])


def _face(shift=(0.0, 0.0), rotation=0.0):
    return default_face(height=H, width=W, duration_s=0.1, noise_std=0, camera_shift=shift,
                        camera_rotation_deg=rotation)


def _frame(shift=(0.0, 0.0), rotation=0.0) -> np.ndarray:
    return _face(shift, rotation).render(0, noise=False)


def _truth(points, shift=(0.0, 0.0), rotation=0.0) -> np.ndarray:
    """Where template points (camera identity) appear in the moving image."""
    m = _face(shift, rotation).camera_matrix()
    return np.asarray(points, float) @ m[:, :2].T + m[:, 2]


def _two_rois(img) -> ROIs:
    return ROIs("custom", exampleImage=img,
                coords_rois={"ROI_0": [[10, 10], [150, 12], [140, 110], [12, 100]],
                             "ROI_1": np.array([[40.0, 30.0], [120, 35], [100, 90]])})


# ----------------------------------------------------------------------------- clahe


def test_clahe_is_opencv_clahe_of_the_stretched_image_and_shared_with_registration():
    rng = np.random.default_rng(0)
    im = rng.uniform(3, 40, (64, 80))
    want = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(
        ((im - im.min()) / (im.max() - im.min()) * 65535).astype(np.uint16))
    got = frois.clahe(im, grid_size=4, clipLimit=2, normalize=True)
    assert got.dtype == np.uint16 and got.shape == im.shape
    np.testing.assert_array_equal(got, want)
    assert got.min() < 1000 and got.max() > 64000
    counts = rng.integers(0, 3000, (32, 32))  # without the stretch: the values as they are
    np.testing.assert_array_equal(
        frois.clahe(counts.astype(float), grid_size=2, normalize=False),
        cv2.createCLAHE(clipLimit=0.0, tileGridSize=(2, 2)).apply(counts.astype(np.uint16)))
    rgb = np.stack([im, im[::-1], im[:, ::-1]], axis=2)
    per_channel = frois.clahe(rgb, grid_size=4, clipLimit=2)
    assert per_channel.shape == rgb.shape
    np.testing.assert_array_equal(per_channel[..., 1], frois.clahe(im[::-1], 4, 2))
    assert freg.clahe is frois.clahe
    with pytest.raises(RoiError, match="grid_size"):
        frois.clahe(im, grid_size=0)


# ----------------------------------------------------------------------------- ROIs


def test_rois_getitem_is_the_ith_mask_and_keys_are_the_originals():
    img = np.zeros((H, W, 3), np.uint8)
    r = _two_rois(img)
    assert list(r.mask_images) == ["mask_0", "mask_1"] and list(r.roi_points) == ["ROI_0",
                                                                                   "ROI_1"]
    want0 = polygon_to_mask(np.array(r.roi_points["ROI_0"]), H, W)
    np.testing.assert_array_equal(r[0], want0)
    np.testing.assert_array_equal(r[-1], r.mask_images["mask_1"])
    np.testing.assert_array_equal(r["mask_1"], r["ROI_1"])
    assert len(r) == 2 and list(r) == ["mask_0", "mask_1"]
    assert r[1].sum() < r[0].sum()
    with pytest.raises(RoiError, match="2 masks"):
        r[2]
    with pytest.raises(RoiError, match="no such mask"):
        r["nose"]
    r.fliplr()  # keys survive the in-place transforms
    assert list(r.mask_images) == ["mask_0", "mask_1"]
    np.testing.assert_array_equal(r[0], want0[:, ::-1])


def test_rois_file_mode_keeps_the_stored_mask_keys(tmp_path):
    polys = [np.array([[5.0, 5], [70, 8], [65, 55], [8, 50]]),
             np.array([[20.0, 20], [60, 22], [50, 45]])]
    masks = [polygon_to_mask(p, 60, 80) for p in polys]
    path = tmp_path / "ROIs.h5"
    with h5py.File(path, "w") as f:  # the original's layout, 11 ROIs: natural order matters
        for i in range(11):
            f[f"mask_images/mask_{i}"] = masks[i % 2]
            f[f"roi_points/ROI_{i}"] = polys[i % 2]
        f["point_positions"] = np.array([[30.0, 30.0], [40, 30]], np.float32)
        f["exampleImage"] = np.full((60, 80), 9, np.uint8)
    r = ROIs(select_mode="file", path_file=str(path))
    assert list(r.mask_images) == [f"mask_{i}" for i in range(11)]
    np.testing.assert_array_equal(r[0], masks[0])
    np.testing.assert_array_equal(r[10], masks[0])
    np.testing.assert_array_equal(r["mask_9"], masks[1])
    assert r.exampleImage[0, 0] == 9 and r.num_points == 2


def test_rois_accepts_every_documented_parameter_by_name_and_position():
    img = np.zeros((60, 80), np.uint8)
    coords = {"ROI_0": [[5, 5], [70, 8], [65, 55], [8, 50]]}
    m = np.zeros((60, 80), bool)
    m[10:50, 10:70] = True
    pts = np.array([[20.0, 20.0], [30, 40]])
    r = ROIs(select_mode="custom", exampleImage=img, path_file=None, coords_rois=coords,
             point_positions=pts, mask_images={"mask_0": m}, verbose=0)
    assert r.verbose == 0 and list(r.mask_images) == ["mask_0"]
    np.testing.assert_array_equal(r[0], m)  # the given mask, not the filled polygon
    np.testing.assert_array_equal(r.point_positions, pts)
    positional = ROIs("custom", img, None, coords, None, [m], 2)  # the original's order
    assert positional.verbose == 2 and np.array_equal(positional[0], m)
    named = ROIs("custom", exampleImage=img, coords_rois=coords, mask_images={"ROI_0": m})
    np.testing.assert_array_equal(named["mask_0"], m)
    with pytest.raises(RoiError, match="2 mask_images for 1 ROIs"):
        ROIs("custom", exampleImage=img, coords_rois=coords, mask_images=[m, m])
    got = r.make_points(rois=[r[0]], point_spacing=10)
    assert r.num_points == len(got) and np.all(got % 10 == 0)
    r.set_point_positions(point_positions=np.array([[1.0, 2.0]]))
    assert r.num_points == 1
    fig, ax = r.plot_rois(image=img, cmap="gray")
    assert ax.images[0].get_cmap().name == "gray"
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.browser
def test_rois_gui_mode_draws_in_the_browser_page_and_returns_the_rois(monkeypatch):
    """ROIs(select_mode='gui') serves the drawing page; headless Chromium draws a polygon
    and presses 'Save and finish'; the ROIs come back with their mask and points."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed (/usr/bin/chromium); run "
                    ".ci/install_browser.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright not installed; run .ci/install_browser.sh")
    import face_rhythm.rois.server as rsrv

    urls, ready = [], threading.Event()

    def announce(msg):
        urls.append(re.search(r"http://\S+/", msg).group(0))
        ready.set()

    monkeypatch.setattr(rsrv, "_announce", announce)
    img = np.repeat(_frame()[:, :, None], 3, axis=2)
    out: dict = {}

    def gui():
        try:
            out["rois"] = ROIs(select_mode="gui", exampleImage=img, verbose=0)
        except BaseException as e:  # noqa: BLE001 - reported below
            out["error"] = e

    t = threading.Thread(target=gui, daemon=True)
    t.start()
    assert ready.wait(20), "the drawing page did not start"
    frac = [(0.1, 0.1), (0.9, 0.12), (0.85, 0.9), (0.12, 0.85)]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.goto(urls[0])
        page.wait_for_selector('body[data-ready="1"]')
        canvas = page.locator("#canvas")
        box = canvas.bounding_box()
        scale = box["width"] / W
        css = [(round(a * box["width"]), round(b * box["height"])) for a, b in frac]
        for u, v in css:
            canvas.click(position={"x": u, "y": v})
        page.wait_for_function("frApp.idle && frApp.preview.n_points > 0")
        page.click("#finish")
        page.wait_for_selector("#status .ok")
        browser.close()
    t.join(20)
    assert "error" not in out, out.get("error")
    r = out["rois"]
    assert len(r) == 1 and list(r.mask_images) == ["mask_0"]
    (verts,) = r.roi_points.values()
    want = np.array([(u / scale - 0.5, v / scale - 0.5) for u, v in css])
    np.testing.assert_allclose(verts, want, atol=0.5 / scale + 0.25)
    np.testing.assert_array_equal(r[0], polygon_to_mask(verts, H, W))
    assert r.num_points > 20 and r[0][r.point_positions[:, 1].astype(int),
                                       r.point_positions[:, 0].astype(int)].all()


# ----------------------------------------------------------------------------- aligners


def test_aligners_are_at_the_original_paths():
    assert frois.ROI_Alinger is freg.ROI_Alinger
    assert frois.Image_Aligner is freg.Image_Aligner
    from face_rhythm.util import FR_Module

    assert issubclass(frois.Image_Aligner, FR_Module)
    assert issubclass(RegistrationError, FaceRhythmError)


def test_image_aligner_geometric_recovers_known_shift_and_rotation():
    im0, im1 = _frame(), _frame(SHIFT)
    im2 = _frame((-2.0, 1.5), rotation=3.0)
    ia = frois.Image_Aligner(verbose=False)
    R = ia.fit_geometric(template=im0, ims_moving=[im1, im2], template_method="image",
                         mode_transform="affine", gaussFiltSize=5, mask_borders=(4, 4, 4, 4),
                         n_iter=500, termination_eps=1e-7, auto_fix_gaussFilt_step=4)
    assert R.shape == (2, H, W, 2) and R.dtype == np.float32
    assert ia.warp_matrices.shape == (2, 2, 3)
    np.testing.assert_allclose(ia.warp_matrices[0][:, 2], SHIFT, atol=0.2)
    np.testing.assert_allclose(ia.transform_points(PTS, R[0]), _truth(PTS, SHIFT), atol=0.5)
    np.testing.assert_allclose(ia.transform_points(PTS, R[1]),
                               _truth(PTS, (-2.0, 1.5), 3.0), atol=0.5)
    # the registered images match the template away from the borders
    reg = ia.transform_images_geometric(ims_moving=[im1, im2])
    assert reg[0].dtype == np.uint8 and reg[0].shape == (H, W)
    inner = (slice(10, H - 10), slice(10, W - 10))
    for r, m in zip(reg, (im1, im2), strict=True):  # a fifth of the error before, or less
        before = np.abs(m[inner].astype(float) - im0[inner]).mean()
        assert np.abs(r[inner].astype(float) - im0[inner]).mean() < 0.2 * before
    # flow fields are remapping index minus the pixel grid
    ff = ia.get_flowFields()
    np.testing.assert_allclose(ff[0][60, 80], np.asarray(SHIFT), atol=0.2)
    np.testing.assert_allclose(ff[1][5, 7], R[1][5, 7] - [7, 5], atol=1e-4)


def test_image_aligner_sequential_composes_the_chain():
    shifts = [(0.0, 0.0), SHIFT, (2 * SHIFT[0], 2 * SHIFT[1])]
    ims = [_frame(s) for s in shifts]
    ia = frois.Image_Aligner(verbose=False)
    R = ia.fit_geometric(2, ims, template_method="sequential", mode_transform="translation",
                         gaussFiltSize=5)
    # chain 0 -> 1 -> 2: image 0 relative to template image 2 is shifted by -2 SHIFT
    np.testing.assert_allclose(ia.warp_matrices[2], np.eye(3)[:2])
    np.testing.assert_allclose(ia.warp_matrices[0][:, 2], [-2 * SHIFT[0], -2 * SHIFT[1]],
                               atol=0.3)
    np.testing.assert_allclose(ia.transform_points(PTS, R[1]), PTS - SHIFT, atol=0.5)
    Rn = ia.fit_nonrigid(template=0, ims_moving=ims, template_method="sequential",
                         mode_transform="calcOpticalFlowFarneback",
                         kwargs_mode_transform=FARNEBACK_SMALL)
    assert Rn.shape == (3, H, W, 2)
    np.testing.assert_allclose(ia.transform_points(PTS, Rn[0]), PTS, atol=1e-4)
    np.testing.assert_allclose(ia.transform_points(PTS, Rn[2]), _truth(PTS, shifts[2]),
                               atol=0.5)
    with pytest.raises(RegistrationError, match="needs an index"):
        ia.fit_geometric(ims[0], ims, template_method="sequential")


def test_image_aligner_nonrigid_after_geometric_composes_with_remappingIdx_init():
    im0, im1 = _frame(), _frame(SHIFT, rotation=2.0)
    ia = frois.Image_Aligner(verbose=False)
    Rg = ia.fit_geometric(0, [im0, im1], template_method="image",
                          mode_transform="translation", gaussFiltSize=5)
    geo = ia.transform_images_geometric([im0, im1])
    Rn = ia.fit_nonrigid(template=geo[0], ims_moving=geo, remappingIdx_init=Rg,
                         template_method="image", mode_transform="calcOpticalFlowFarneback",
                         kwargs_mode_transform=FARNEBACK_SMALL)
    truth = _truth(PTS, SHIFT, 2.0)
    assert np.abs(ia.transform_points(PTS, Rg[1]) - truth).max() > 0.8  # translation only
    np.testing.assert_allclose(ia.transform_points(PTS, Rn[1]), truth, atol=0.5)
    reg = ia.transform_images_nonrigid(ims_moving=[im0, im1])  # the originals, composed warp
    inner = (slice(10, H - 10), slice(10, W - 10))
    assert np.abs(reg[1][inner].astype(float) - im0[inner]).mean() < \
        0.5 * np.abs(geo[1][inner].astype(float) - im0[inner]).mean()
    aug = frois.Image_Aligner.augment_images([im0, im1], use_CLAHE=True, CLAHE_grid_size=2,
                                             CLAHE_clipLimit=1, CLAHE_normalize=True)
    np.testing.assert_array_equal(aug[1], frois.clahe(im1, 2, 1, True))
    assert frois.Image_Aligner.augment_images([im0], use_CLAHE=False)[0] is im0


def test_roi_alinger_carries_rois_and_points_onto_shifted_images():
    im0 = np.repeat(_frame()[:, :, None], 3, axis=2)
    moved = [np.repeat(_frame(s)[:, :, None], 3, axis=2) for s in (SHIFT, (-1.5, 2.5))]
    template = ROIs("custom", exampleImage=im0, coords_rois=demo_rois(_face()))
    ra = frois.ROI_Alinger(method="calcOpticalFlowFarneback", kwargs_method=None, verbose=0)
    ra.align_and_make_ROIs(ROIs_object_template=template, images_new=moved,
                           image_template=None, template_method="image", shifts=None,
                           normalize=True)
    for k, s in enumerate((SHIFT, (-1.5, 2.5))):
        want = np.clip(template.point_positions + s, 0, [W - 1, H - 1])
        np.testing.assert_allclose(ra.pointPositions_new[k], want, atol=0.5)
        verts = ra.roiPoints_new[k]["face"]
        np.testing.assert_allclose(verts, np.clip(template.roi_points["face"] + s, 0,
                                                  [W - 1, H - 1]), atol=0.5)
        np.testing.assert_array_equal(ra.maskImages_new[k]["mask_0"],
                                      polygon_to_mask(verts, H, W))
        new = ra.ROIs_objects_new[k]
        np.testing.assert_array_equal(new[0], ra.maskImages_new[k]["mask_0"])
        np.testing.assert_array_equal(new.point_positions, ra.pointPositions_new[k])
        np.testing.assert_allclose(ra.flows[k][60, 80], s, atol=0.5)
        inner = (slice(10, H - 10), slice(10, W - 10))
        before = np.abs(moved[k][inner].astype(float) - im0[inner]).mean()
        assert np.abs(ra.images_warped[k][inner].astype(float) - im0[inner]).mean() \
            < 0.2 * before
    # shifts (e.g. from a phase-correlation step) add to the flow
    ra2 = frois.ROI_Alinger(method="calcOpticalFlowFarneback", verbose=0)
    ra2.align_and_make_ROIs(template, moved[:1], shifts=np.array([[2.0, 1.0]]))
    np.testing.assert_allclose(ra2.flows[0], ra.flows[0] + [2.0, 1.0], atol=1e-4)
    # 'sequential': the template is images_new[index]
    ra3 = frois.ROI_Alinger(method="calcOpticalFlowFarneback", verbose=0)
    ra3.align_and_make_ROIs(template, [im0, moved[0]], image_template=0,
                            template_method="sequential")
    np.testing.assert_allclose(ra3.pointPositions_new[0], template.point_positions, atol=0.05)
    np.testing.assert_allclose(ra3.pointPositions_new[1], ra.pointPositions_new[0], atol=0.05)
    with pytest.raises(RegistrationError, match="template_method"):
        ra3.align_and_make_ROIs(template, moved, template_method="chain")
