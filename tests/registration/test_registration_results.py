"""reference_frame.h5 and registration.h5: write, read back (dataclass and dict), and the
alignment stages files-in, files-out without Snakemake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from face_rhythm import registration as R
from face_rhythm.rois import RoiSet, load_rois, save_rois_h5

HW = (96, 128)


def _texture(seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    a = cv2.GaussianBlur(rng.normal(size=HW).astype(np.float32), (0, 0), 2.0)
    return ((a - a.min()) / (a.max() - a.min())).astype(np.float32)


def _reference(image: np.ndarray, n: int = 20) -> R.ReferenceFrame:
    power = np.linspace(1, 2, n).astype(np.float32)
    power[0] = np.nan
    kept = np.zeros(n, bool)
    kept[1:4] = True
    return R.ReferenceFrame(image=image, mean_still=image * 200, mean_all=image * 180,
                            power=power, kept=kept, video_index=np.zeros(n, np.int64),
                            frame_index=np.arange(n, dtype=np.int64), frame_rate=30.0,
                            threshold=1.1, params=R.ReferenceFrameParams(ds_factor=4))


def test_reference_frame_file_round_trip(tmp_path):
    ref = _reference(_texture())
    info = {"config": {"alignment": {"ds_factor": 4}}, "extra": {"n_kept": 3}}
    path = R.save_reference_frame_h5(ref, tmp_path / "reference_frame.h5", run_info=info,
                                     videos=["a.avi", "b.avi"])
    f = R.read_reference_frame_file(path)
    assert isinstance(f, R.ReferenceFrameFile)
    assert np.array_equal(f.reference_frame, ref.image) and f.reference_frame.dtype == np.float32
    assert np.array_equal(f.reference_frame_uint8, R.to_uint8(ref.image))
    assert f.mean_still_frame.dtype == np.uint8
    assert np.array_equal(f.mean_still_frame, np.clip(np.rint(ref.mean_still), 0, 255))
    assert np.allclose(f.mean_frame, ref.mean_all)
    assert np.array_equal(f.spectral_power, ref.power, equal_nan=True)
    assert np.array_equal(f.kept, ref.kept) and f.kept.dtype == bool
    assert np.array_equal(f.frame_index, ref.frame_index) and f.video_index.dtype == np.int64
    assert f.frame_rate == 30.0 and f.threshold == pytest.approx(1.1)
    assert f.videos == ("a.avi", "b.avi")
    assert f.params["ds_factor"] == 4
    assert f.run_info == info
    # the dict reader sees the same file
    d = R.load_reference_frame_h5(path)
    assert np.array_equal(d["reference_frame"], f.reference_frame)
    # and the figure takes either
    assert R.plot_reference_frame(f) is not None and R.plot_reference_frame(d) is not None


def test_registration_file_round_trip(tmp_path):
    n = 3
    mats = np.tile(np.eye(3), (n, 1, 1))
    mats[2, :2, 2] = [1.5, -2.0]
    ri = [R.warp_matrix_to_remappingIdx(m, HW[1], HW[0]) for m in mats]
    res = R.RegistrationResult(warp_matrices=mats, z_initial=np.array([np.inf, 2.0, 3.0]),
                               z_final=np.array([np.inf, 8.0, 9.0]),
                               passed=np.array([True, True, True]),
                               paths=[[0], [1, 0], [2, 1, 0]], template_index=0,
                               method="ECC_cv2", z_threshold=4.0,
                               z_matrix=np.arange(9.0).reshape(3, 3), remappingIdx_nonrigid=ri)
    img = _texture()
    path = R.save_registration_h5(tmp_path / "registration.h5", res, 2, ["d1", "d2", "d3"],
                                  registered_image=img, params={"backend": "ECC_cv2"},
                                  run_info={"extra": {"z": 9.0}})
    f = R.read_registration_file(path)
    assert isinstance(f, R.RegistrationFile)
    assert np.array_equal(f.warp_matrix, mats[2]) and f.warp_matrix.dtype == np.float64
    assert (f.z_initial, f.z_final, f.passed, f.z_threshold) == (3.0, 9.0, True, 4.0)
    assert f.path == ("d3", "d2", "d1")
    assert (f.session, f.template_session, f.method) == ("d3", "d1", "ECC_cv2")
    assert f.sessions == ("d1", "d2", "d3")
    assert np.array_equal(f.z_matrix, res.z_matrix)
    assert np.array_equal(f.remappingIdx, ri[2]) and f.remappingIdx.dtype == np.float32
    assert np.array_equal(f.remapping_index(HW), ri[2])
    assert np.array_equal(f.registered_reference_frame, img)
    assert f.params == {"backend": "ECC_cv2"} and f.run_info == {"extra": {"z": 9.0}}
    # without the optional parts
    res.z_matrix = res.remappingIdx_nonrigid = None
    g = R.read_registration_file(R.save_registration_h5(tmp_path / "r2.h5", res, 1,
                                                        ["d1", "d2", "d3"]))
    assert g.remappingIdx is None and g.z_matrix is None and g.sessions is None
    assert g.registered_reference_frame is None and g.run_info is None
    assert np.allclose(g.remapping_index(HW), R.warp_matrix_to_remappingIdx(mats[1], HW[1],
                                                                            HW[0]))


def test_readers_name_the_file_that_is_not_theirs(tmp_path):
    ref = R.save_reference_frame_h5(_reference(_texture()), tmp_path / "reference_frame.h5")
    with pytest.raises(ValueError, match="not a registration.h5"):
        R.read_registration_file(ref)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        R.read_reference_frame_file(tmp_path / "missing.h5")


def test_stages_register_transfer_and_summarise(tmp_path):
    """register -> session_rois -> alignment_overview on files, as the rules run them."""
    t = _texture()
    sessions = ["d1", "d2"]
    refs = [R.save_reference_frame_h5(_reference(im), tmp_path / f"{s}_ref.h5")
            for s, im in zip(sessions, [t, np.roll(t, (2, -3), axis=(0, 1))], strict=True)]
    cfg = {"backend": "PhaseCorrelation", "z_threshold": 4.0}
    regs = []
    for s in sessions:
        regs.append(R.register_stage(refs, tmp_path / f"{s}_reg.h5", tmp_path / f"{s}_reg.png",
                                     cfg, sessions, "d1", s))
        assert (tmp_path / f"{s}_reg.png").stat().st_size > 1000
    f = R.read_registration_file(regs[1])
    assert f.passed and f.path == ("d2", "d1")
    assert np.allclose(f.warp_matrix[:2, 2], [-3, 2], atol=0.2)
    assert f.run_info["config"] == {"alignment": cfg}
    # the template's ROIs carried into d2
    h, w = HW
    poly = np.array([[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]) * [w, h]
    rs = RoiSet(polygons={"face": poly}, frame_height_width=HW, point_spacing=8,
                points_from=["face"], mask_from=["face"])
    tpl = save_rois_h5(rs, tmp_path / "rois_template.h5")
    out = R.session_rois_stage(tpl, regs[1], refs[1], tmp_path / "rois.h5",
                               tmp_path / "rois.png", cfg, "d1", "d2")
    moved = load_rois(out)
    assert np.allclose(moved.points(), R.transform_points(rs.points(), f.warp_matrix), atol=1e-3)
    # the overview table
    R.alignment_overview_stage(regs, tmp_path / "ov.png", tmp_path / "scores.png",
                               tmp_path / "summary.tsv", sessions, "d1")
    table = pd.read_csv(tmp_path / "summary.tsv", sep="\t")
    assert list(table["session"]) == sessions and list(table["path"]) == ["d1", "d2 > d1"]
    assert table["passed"].all()
    # ROIs drawn on frames of another size cannot be carried
    small = RoiSet(polygons={"face": poly / 2}, frame_height_width=(48, 64), point_spacing=8,
                   points_from=["face"], mask_from=["face"])
    with pytest.raises(ValueError, match="sessions must share a frame size"):
        R.session_rois_stage(save_rois_h5(small, tmp_path / "small.h5"), regs[1], refs[1],
                             tmp_path / "x.h5", tmp_path / "x.png", cfg, "d1", "d2")
