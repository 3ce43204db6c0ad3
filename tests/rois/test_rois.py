"""ROIs: exact polygon filling, the point lattice, files (YAML, rois.h5, original ROIs.h5),
config, errors, fliplr, figures and the notebook class."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest
import yaml
from matplotlib.path import Path as MplPath

from face_rhythm.rois import (
    ROIs,
    RoiSet,
    grid_points,
    infer_point_spacing,
    load_rois,
    plot_rois,
    polygon_self_intersects,
    polygon_to_mask,
    rois_from_config,
    rois_image,
    save_rois_h5,
    save_rois_png,
    save_rois_yaml,
)

# ----------------------------------------------------------------------------- references


def brute_force_closed_mask(vertices, h, w):
    """Exact integer arithmetic: pixel centre inside (even-odd) or on an edge."""
    v = [(int(x), int(y)) for x, y in vertices]
    n = len(v)
    out = np.zeros((h, w), bool)
    for r in range(h):
        for c in range(w):
            inside = False
            on_edge = False
            for i in range(n):
                (x0, y0), (x1, y1) = v[i], v[(i + 1) % n]
                cross = (x1 - x0) * (r - y0) - (y1 - y0) * (c - x0)
                if cross == 0 and min(x0, x1) <= c <= max(x0, x1) and \
                        min(y0, y1) <= r <= max(y0, y1):
                    on_edge = True
                    break
                if (y0 > r) != (y1 > r):  # edge straddles the horizontal ray to +x
                    # x of crossing > c  <=>  compare without division
                    lhs = (c - x0) * (y1 - y0)
                    rhs = (r - y0) * (x1 - x0)
                    if (y1 - y0) > 0:
                        inside ^= lhs < rhs
                    else:
                        inside ^= lhs > rhs
            out[r, c] = on_edge or inside
    return out


def mpl_mask(vertices, h, w):
    yy, xx = np.mgrid[:h, :w]
    return MplPath(np.asarray(vertices, float)).contains_points(
        np.c_[xx.ravel(), yy.ravel()]).reshape(h, w)


def brute_force_grid(mask, spacing):
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    pts = []
    for y in range(rows[0], rows[-1], spacing):
        for x in range(cols[0], cols[-1], spacing):
            if mask[y, x]:
                pts.append((x, y))
    return np.array(pts, np.float32).reshape(-1, 2)


# ----------------------------------------------------------------------------- filling


def test_known_areas_closed_convention():
    tri = polygon_to_mask([[0, 0], [10, 0], [0, 10]], 20, 20)
    assert tri.sum() == 66  # x, y >= 0 and x + y <= 10, boundary included
    sq = polygon_to_mask([[10, 10], [20, 10], [20, 20], [10, 20]], 30, 30)
    assert sq.sum() == 121 and sq[10:21, 10:21].all()
    half = polygon_to_mask([[9.5, 9.5], [20.5, 9.5], [20.5, 20.5], [9.5, 20.5]], 30, 30)
    assert np.array_equal(half, sq)
    thin = polygon_to_mask([[2.2, 1.0], [7.8, 1.0], [7.8, 1.4], [2.2, 1.4]], 5, 10)
    assert np.flatnonzero(thin[1]).tolist() == [3, 4, 5, 6, 7] and thin.sum() == 5
    # a sliver between pixel centres holds no pixel
    assert polygon_to_mask([[2.2, 1.1], [7.8, 1.1], [7.8, 1.4], [2.2, 1.4]], 5, 10).sum() == 0


@pytest.mark.parametrize("vertices", [
    [[3, 2], [25, 4], [17, 19], [9, 14], [2, 21]],                   # concave
    [[1, 1], [28, 1], [28, 22], [15, 8], [1, 22]],                    # deep notch
    [[2, 2], [26, 20], [26, 2], [2, 20]],                             # bow tie (crossing)
    [[5, 5], [5, 5], [20, 5], [20, 18], [5, 18]],                     # repeated vertex
    [[0, 0], [29, 0], [29, 22], [0, 22], [0, 11], [14, 11], [0, 11]],  # spike back on itself
    [[4, 3], [24, 9], [7, 20], [12, 9]],                              # dart
])
def test_integer_polygons_match_exact_brute_force(vertices):
    h, w = 23, 30
    assert np.array_equal(polygon_to_mask(vertices, h, w),
                          brute_force_closed_mask(vertices, h, w))


def test_random_float_polygons_match_matplotlib():
    rng = np.random.default_rng(7)
    h, w = 48, 64
    for _ in range(40):
        n = int(rng.integers(3, 14))
        v = rng.uniform(-0.5, [w - 0.5, h - 0.5], size=(n, 2))  # many self-intersect
        assert np.array_equal(polygon_to_mask(v, h, w), mpl_mask(v, h, w))


def test_clips_polygon_larger_than_frame():
    v = np.array([[-8, -5], [40, 3], [20, 40]])
    big = brute_force_closed_mask(v + 10, 60, 60)[10:30, 10:35]
    assert np.array_equal(polygon_to_mask(v, 20, 25), big)


def test_self_intersection_detection():
    assert polygon_self_intersects([[0, 0], [10, 10], [10, 0], [0, 10]])
    assert not polygon_self_intersects([[0, 0], [10, 0], [10, 10], [0, 10]])
    assert not polygon_self_intersects([[3, 2], [25, 4], [17, 19], [9, 14], [2, 21]])


# ----------------------------------------------------------------------------- grid


def test_grid_known_answer_and_max_exclusive():
    m = np.zeros((50, 60), bool)
    m[10:31, 5:41] = True  # rows 10..30, cols 5..40
    p = grid_points(m, 7)
    xs, ys = [5, 12, 19, 26, 33], [10, 17, 24]  # 40 and 31 not reached; max excluded
    assert p.dtype == np.float32 and p.shape == (15, 2)
    assert p.tolist() == [[x, y] for y in ys for x in xs]
    m2 = np.zeros((20, 20), bool)
    m2[0:15, 0:15] = True  # max index 14 is on the 7-lattice but excluded
    assert sorted(set(grid_points(m2, 7)[:, 0].tolist())) == [0, 7]


def test_grid_random_masks_are_exactly_the_lattice_points_inside():
    rng = np.random.default_rng(3)
    for spacing in (1, 3, 9):
        v = rng.uniform(0, [79, 59], size=(7, 2))
        m = polygon_to_mask(v, 60, 80)
        p = grid_points(m, spacing)
        assert np.array_equal(p, brute_force_grid(m, spacing))
        assert m[p[:, 1].astype(int), p[:, 0].astype(int)].all()
    assert grid_points(np.zeros((5, 5), bool), 2).shape == (0, 2)
    with pytest.raises(ValueError, match="spacing"):
        grid_points(np.ones((5, 5), bool), 0)


def test_infer_spacing():
    m = np.ones((40, 40), bool)
    assert infer_point_spacing(grid_points(m, 6)) == 6


# ----------------------------------------------------------------------------- RoiSet


def _two_rois():
    return RoiSet(polygons={"face": [[5, 5], [70, 8], [65, 55], [8, 50]],
                            "pad": [[30, 0], [79, 0], [79, 59], [30, 59]]},
                  frame_height_width=(60, 80), point_spacing=5,
                  points_from=["face", "pad"], mask_from=["face"])


def test_roiset_masks_points_and_tracking_mask():
    rs = _two_rois()
    masks = rs.masks()
    assert set(masks) == {"face", "pad"} and masks["face"].dtype == bool
    assert np.array_equal(rs.tracking_mask(), masks["face"])
    both = masks["face"] & masks["pad"]
    assert np.array_equal(rs.points(), brute_force_grid(both, 5))
    assert rs.points()[:, 0].min() >= 30  # only the overlap
    rs.mask_from = []
    assert rs.tracking_mask().all()
    assert all(v.dtype == np.float32 for v in rs.polygons.values())


def test_fliplr_is_an_involution_and_mirrors_exactly():
    rng = np.random.default_rng(11)
    h, w = 45, 70
    polys = {"a": np.round(rng.uniform(0, [w - 1, h - 1], (6, 2)) * 64) / 64,
             "b": [[2, 2], [60, 3], [55, 40], [4, 42]]}
    rs = RoiSet(polys, (h, w), point_spacing=4, points_from=["b"], mask_from=["a", "b"])
    f = rs.fliplr()
    for n in polys:
        assert np.array_equal(f.masks()[n], rs.masks()[n][:, ::-1])
    p = rs.points()
    assert np.array_equal(np.sort(f.points()[:, 0]), np.sort((w - 1) - p[:, 0]))
    ff = f.fliplr()
    for n in polys:
        assert np.array_equal(ff.polygons[n], rs.polygons[n])
    assert np.array_equal(ff.points(), rs.points())
    assert np.array_equal(ff.tracking_mask(), rs.tracking_mask())
    assert ff.fixed_points is None  # back on its own grid


# ----------------------------------------------------------------------------- errors


def test_bad_input_errors(caplog):
    hw = (60, 80)
    with pytest.raises(ValueError, match=r"ROI 'face'.*at least 3 vertices"):
        RoiSet({"face": [[1, 1], [5, 5]]}, hw)
    with pytest.raises(ValueError, match=r"ROI 'nose': vertex 1 \(85, 5\) is outside the 80x60"):
        RoiSet({"nose": [[1, 1], [85, 5], [5, 9]]}, hw)
    with pytest.raises(ValueError, match="zero points"):
        RoiSet({"face": [[1, 9], [9, 1], [9, 9]]}, hw, point_spacing=50).validate()
    with pytest.raises(ValueError, match=r"points_from names unknown ROI\(s\) \['jaw'\]"):
        RoiSet({"face": [[1, 1], [9, 1], [9, 9]]}, hw, points_from=["jaw"])
    with pytest.raises(ValueError, match="point_spacing must be a positive integer"):
        RoiSet({"face": [[1, 1], [9, 1], [9, 9]]}, hw, point_spacing=2.5)
    with caplog.at_level(logging.WARNING, logger="face_rhythm.rois"):
        RoiSet({"bow": [[2, 2], [40, 30], [40, 2], [2, 30]]}, hw)
    assert any("'bow'" in r.message and "self-intersecting" in r.message for r in caplog.records)


def test_roi_file_for_another_frame_size(tmp_path):
    path = save_rois_yaml(_two_rois(), tmp_path / "rois.yaml")
    with pytest.raises(ValueError, match=r"rois.yaml: ROI file is for frames of 80x60 .* 100x60"):
        load_rois(path, frame_height_width=(60, 100))
    bad = tmp_path / "bad.yaml"
    bad.write_text("polygons: {face: [[1, 1], [2, 2]]}\nframe_height_width: [60, 80]\n")
    with pytest.raises(ValueError, match=r"bad.yaml: ROI 'face'"):
        load_rois(bad)


# ----------------------------------------------------------------------------- files


def test_yaml_round_trip(tmp_path):
    rs = _two_rois()
    rs.polygons["face"][0] = [5.1, 5.3]  # not exactly representable in binary
    path = save_rois_yaml(rs, tmp_path / "sub" / "rois.yaml")
    d = yaml.safe_load(path.read_text())
    assert d["polygons"]["face"][0] == [5.1, 5.3]  # shortest float32 text
    back = load_rois(path, frame_height_width=(60, 80))
    for n in rs.polygons:
        assert np.array_equal(back.polygons[n], rs.polygons[n])
    assert (back.point_spacing, back.points_from, back.mask_from) == (5, ["face", "pad"], ["face"])
    assert np.array_equal(back.points(), rs.points())
    # explicit points survive the round trip too
    rs.fixed_points = rs.points()[::2] + 0.25
    back = load_rois(save_rois_yaml(rs, tmp_path / "p.yaml"))
    assert np.array_equal(back.points(), rs.fixed_points)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_rois_h5_layout_and_round_trip(tmp_path):
    from face_rhythm.provenance import read_run_info, run_info

    rs = _two_rois()
    img = np.full((60, 80, 3), 7, np.uint8)
    path = save_rois_h5(rs, tmp_path / "rois.h5", run_info=run_info({"point_spacing": 5}),
                        example_image=img)
    with h5py.File(path) as f:
        assert f["point_positions"].dtype == np.float32 and f["point_positions"].shape[1] == 2
        assert f["mask"].dtype == bool and f["mask"].shape == (60, 80)
        assert set(f["masks"]) == set(f["polygons"]) == {"face", "pad"}
        assert f["polygons/face"].dtype == np.float32
        assert int(f["point_spacing"][()]) == 5
        assert f["frame_height_width"][()].tolist() == [60, 80]
        assert read_run_info(f["run_info"])["config"] == {"point_spacing": 5}
        assert np.array_equal(f["mask"][()], rs.tracking_mask())
    back = load_rois(path)
    assert np.array_equal(back.points(), rs.points())
    assert back.mask_from == ["face"] and back.fixed_masks is None
    assert np.array_equal(ROIs("file", path_file=path).exampleImage, img)


def _write_reference_h5(path, polys, h, w, spacing, mask_fn):
    masks = [mask_fn(v, h, w) for v in polys]
    both = np.logical_and.reduce(masks)
    pts = brute_force_grid(both, spacing)
    with h5py.File(path, "w") as f:
        for i, (v, m) in enumerate(zip(polys, masks, strict=True)):
            f[f"mask_images/mask_{i}"] = m
            f[f"roi_points/ROI_{i}"] = np.asarray(v, np.float64)
        f["point_positions"] = pts
        f["exampleImage"] = np.zeros((h, w), np.uint8)
    return masks, pts


def test_import_reference_rois_h5(tmp_path):
    rng = np.random.default_rng(5)
    h, w = 58, 77
    polys = [rng.uniform(0, [w - 1, h - 1], (5, 2)) for _ in range(2)]
    polys = [np.array([[3.3, 4.1], [70.2, 6.7], [66.6, 50.5], [5.5, 52.2]]), polys[0]]
    masks, pts = _write_reference_h5(tmp_path / "ROIs.h5", polys, h, w, 4, mpl_mask)
    rs = load_rois(tmp_path / "ROIs.h5", frame_height_width=(h, w))
    assert list(rs.polygons) == ["ROI_0", "ROI_1"]
    assert rs.fixed_masks is None  # our filling reproduces the stored masks
    for i, n in enumerate(rs.polygons):
        assert np.array_equal(rs.masks()[n], masks[i])
    assert rs.point_spacing == 4
    assert np.array_equal(rs.points(), pts)


def test_import_reference_masks_kept_when_filled_differently(tmp_path, caplog):
    import cv2

    def fillpoly_mask(v, h, w):  # another filling convention: OpenCV's
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [np.round(v).astype(np.int32)], 1)
        return m.astype(bool)

    polys = [np.array([[3.4, 4.6], [40.5, 6.5], [36.6, 30.5], [5.5, 28.5]])]
    masks, pts = _write_reference_h5(tmp_path / "ROIs.h5", polys, 40, 50, 3, fillpoly_mask)
    assert not np.array_equal(masks[0], polygon_to_mask(polys[0], 40, 50))
    with caplog.at_level(logging.WARNING, logger="face_rhythm.rois"):
        rs = load_rois(tmp_path / "ROIs.h5")
    assert "keeping the stored masks" in caplog.text
    assert np.array_equal(rs.masks()["ROI_0"], masks[0])
    assert np.array_equal(rs.points(), pts)
    assert np.array_equal(rs.fliplr().fliplr().masks()["ROI_0"], masks[0])


# ----------------------------------------------------------------------------- config


def test_rois_from_config_inline_and_file(tmp_path, caplog):
    cfg = {"file": None, "polygons": {"face": [[5, 5], [70, 8], [65, 55], [8, 50]]},
           "point_spacing": 9, "points_from": ["face"], "mask_from": ["face"]}
    rs = rois_from_config(cfg, (60, 80))
    assert rs.source == "config rois" and rs.point_spacing == 9
    assert np.array_equal(rs.points(), brute_force_grid(rs.masks()["face"], 9))
    defaults = rois_from_config({"file": None, "polygons": cfg["polygons"],
                                 "points_from": [], "mask_from": []}, (60, 80))
    assert defaults.point_spacing == 9 and defaults.points_from == ["face"]
    assert defaults.tracking_mask().all()  # mask_from [] -> whole frame
    path = save_rois_yaml(_two_rois(), tmp_path / "rois.yaml")
    for unset in (None, []):  # null or [] (the schema's defaults) keep the file's choice
        from_file = rois_from_config({"file": str(path), "polygons": {}, "point_spacing": None,
                                      "points_from": unset, "mask_from": unset}, (60, 80))
        assert from_file.point_spacing == 5 and from_file.points_from == ["face", "pad"]
        assert from_file.mask_from == ["face"]
    with caplog.at_level(logging.WARNING, logger="face_rhythm.rois"):
        over = rois_from_config({"file": str(path), "point_spacing": 3}, (60, 80))
    assert over.point_spacing == 3 and "overrides" in caplog.text
    with pytest.raises(ValueError, match="either 'file' or 'polygons'"):
        rois_from_config({**cfg, "file": str(path)}, (60, 80))
    with pytest.raises(ValueError, match="give 'file'"):
        rois_from_config({"file": None, "polygons": {}}, (60, 80))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        rois_from_config({"file": str(tmp_path / "nope.yaml")}, (60, 80))
    with pytest.raises(ValueError, match="frames of 80x60"):
        rois_from_config({"file": str(path)}, (61, 80))


# ----------------------------------------------------------------------------- figure, class


def test_plot_rois_draws_outlines_and_points():
    rs = _two_rois()
    fig = plot_rois(np.zeros((60, 80), np.uint8), rs)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    assert ax.collections[0].get_offsets().shape == (len(rs.points()), 2)
    assert np.array_equal(ax.lines[0].get_xydata()[0], ax.lines[0].get_xydata()[-1])  # closed


def test_rois_image_draws_outlines_points_and_legend(tmp_path):
    import cv2

    rs = _two_rois()
    frame = np.full((60, 80), 100, np.uint8)
    k = 5
    img = rois_image(frame, rs, min_width=80 * k)  # enlarged 5x
    assert img.shape == (60 * k, 80 * k, 3) and img.dtype == np.uint8
    # each point's centre (at (x + 0.5) * k in the enlarged frame) is the point colour
    # (below the legend, top right)
    pts = rs.points()
    for x, y in pts[pts[:, 1] > 20]:
        r, g, b = img[int((y + 0.5) * k), int((x + 0.5) * k)]
        assert b > 200 and g > 200 and r < 60, (x, y, (r, g, b))
    # the outline of the first ROI passes through its first vertex, in the first colour
    x0, y0 = np.asarray(next(iter(rs.polygons.values())))[0]
    patch = img[int((y0 + 0.5) * k) - 1:int((y0 + 0.5) * k) + 2,
                int((x0 + 0.5) * k) - 1:int((x0 + 0.5) * k) + 2].reshape(-1, 3)
    assert np.any((patch[:, 0] > 200) & (patch[:, 2] < 150)), patch
    # the frame itself is unchanged away from the drawing, and the input is not modified
    assert np.array_equal(frame, np.full((60, 80), 100, np.uint8))
    assert tuple(img[60 * k - 1, 0]) == (100, 100, 100)
    bare = rois_image(frame, rs, show_points=False, min_width=80 * k)
    assert np.count_nonzero(np.any(bare != img, axis=2)) > 20 * len(rs.points())
    path = save_rois_png(frame, rs, tmp_path / "f" / "rois.png")
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, rois_image(frame, rs))
    assert not list((tmp_path / "f").glob(".*tmp"))


def test_rois_class_reference_api(tmp_path):
    img = np.zeros((60, 80, 3), np.uint8)
    r = ROIs("custom", exampleImage=img,
             coords_rois={"ROI_0": np.array([[5, 5], [70, 8], [65, 55], [8, 50]])})
    assert r.img_hw == (60, 80) and r.num_points == len(r.point_positions) > 0
    pts = r.make_points([r.mask_images["mask_0"]], point_spacing=10)
    assert np.array_equal(pts, brute_force_grid(r[0], 10))
    assert r.num_points == len(pts)
    before = {k: v.copy() for k, v in r.roi_points.items()}, r.point_positions.copy()
    r.fliplr()
    assert np.array_equal(r.point_positions[:, 0], 79 - before[1][:, 0])
    r.fliplr()
    assert np.array_equal(r.roi_points["ROI_0"], before[0]["ROI_0"])
    assert np.array_equal(r.point_positions, before[1])
    r.set_point_positions(np.array([[1, 2], [3, 4]]))
    assert r.num_points == 2
    fig, ax = r.plot_rois()
    assert ax in fig.axes
    path = r.save(tmp_path / "r.yaml")
    assert ROIs("file", path_file=path).num_points == 2
    with pytest.raises(ValueError, match="select_mode"):
        ROIs("nope")


def test_real_frame_and_prepare_project(shared_data, tmp_path):
    from face_rhythm.project import prepare_project
    from face_rhythm.roi_server import load_frame

    video = shared_data / "videos" / "mouseflow_face_75fps.mp4"
    frame = load_frame(video, 10)
    assert frame.shape == (582, 782, 3) and frame.dtype == np.uint8 and frame.std() > 10
    with pytest.raises(ValueError, match="frame 9999 out of range"):
        load_frame(video, 9999)
    rs = RoiSet({"face": [[200, 150], [600, 140], [620, 450], [250, 480]]}, frame.shape[:2])
    fig = plot_rois(frame, rs)
    fig.savefig(tmp_path / "rois.png")
    assert (tmp_path / "rois.png").stat().st_size > 10_000
    cfg, info, d = prepare_project(tmp_path / "proj")
    from pathlib import Path

    assert yaml.safe_load(Path(cfg).read_text())["paths"]["project"] == d
    assert (tmp_path / "proj" / "analysis_files").is_dir()
    assert Path(info).read_text().strip() == "{}"
