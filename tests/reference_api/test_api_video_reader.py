"""``BufferedVideoReader`` and ``TorchCodecVideoReader`` return what the original returns:
torch uint8 tensors, ``(1, H, W, 3)`` for an int index, one ``[H, W]``; frames equal
:func:`face_rhythm.video.read_frames`; readers feed FrameVisualizer and PointTracker."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from face_rhythm import synthetic
from face_rhythm import visualization as vis
from face_rhythm.errors import VideoError
from face_rhythm.video import BufferedVideoReader, read_frames
from face_rhythm.video.readers import TorchCodecVideoReader

H, W, FPS = 120, 160, 90.0


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    a = synthetic.write_video(synthetic.default_face(height=H, width=W, n_frames=30, seed=0),
                              root / "a.avi")
    b = synthetic.write_video(synthetic.default_face(height=H, width=W, n_frames=20, seed=1),
                              root / "b.avi")
    return [a, b], np.concatenate([read_frames(a, slice(None)), read_frames(b, slice(None))])


def test_continuous_frames_are_tensors_equal_to_read_frames(videos):
    paths, ref = videos
    with BufferedVideoReader(paths_videos=paths, buffer_size=8, prefetch=1) as r:
        one = r[3]
        assert isinstance(one, torch.Tensor) and one.dtype == torch.uint8
        assert tuple(one.shape) == (1, H, W, 3)
        np.testing.assert_array_equal(one.cpu().numpy()[0], ref[3])
        block = r[5:13]  # within one slot, and then across slots and videos
        assert tuple(block.shape) == (8, H, W, 3)
        np.testing.assert_array_equal(block.numpy(), ref[5:13])
        np.testing.assert_array_equal(r[26:34].numpy(), ref[26:34])
        np.testing.assert_array_equal(r[[40, 2, 40]].numpy(), ref[[40, 2, 40]])
        assert len(r) == r.num_frames_total == 50
        assert r.frame_height_width == [H, W] and r.num_channels == 3
        assert r.frame_rate == pytest.approx(FPS) and isinstance(r.frame_rate, float)
        assert r.metadata["num_frames"].tolist() == [30, 20]
        assert r.metadata["frame_height_width"].tolist() == [[H, W], [H, W]]
        r.set_iterator_frame_idx(28)
        frames = list(r)
        assert len(frames) == 22 and tuple(frames[0].shape) == (H, W, 3)
        np.testing.assert_array_equal(torch.stack(frames).numpy(), ref[28:])
        loaded = [s for row in r.slots for s in row if s is not None]
        assert loaded and all(isinstance(s, torch.Tensor) for s in loaded)


def test_by_video_indexing_len_and_iteration(videos):
    paths, ref = videos
    r = BufferedVideoReader(paths_videos=paths, buffer_size=8, method_getitem="by_video")
    assert len(r) == 2  # videos, as the original
    f = r[(1, 4)]
    assert tuple(f.shape) == (1, H, W, 3)
    np.testing.assert_array_equal(f[0].numpy(), ref[34])
    np.testing.assert_array_equal(r[(0, slice(2, 5))].numpy(), ref[2:5])
    subs = list(r)
    assert [len(s) for s in subs] == [30, 20]
    assert all(s.method_getitem == "continuous" for s in subs)
    np.testing.assert_array_equal(r[1][0][0].numpy(), ref[30])
    r.close()


def test_numpy_decord_backend_and_bad_device(videos):
    paths, ref = videos
    r = BufferedVideoReader(paths_videos=paths[:1], backend="decord", decord_backend="numpy")
    assert isinstance(r[0], np.ndarray) and r[0].shape == (1, H, W, 3)
    np.testing.assert_array_equal(r[0][0], ref[0])
    if not torch.cuda.is_available():
        with pytest.raises(VideoError, match="CUDA is not available"):
            BufferedVideoReader(paths_videos=paths[:1], device="cuda")
        with pytest.raises(VideoError, match="CUDA is not available"):
            TorchCodecVideoReader(paths[0], device="cuda:0")


def test_torchcodec_reader_interface(videos):
    paths, ref = videos
    tc = TorchCodecVideoReader(paths[0])
    assert len(tc) == 30 and tc.get_avg_fps() == pytest.approx(FPS)
    x = tc[7]
    assert isinstance(x, torch.Tensor) and tuple(x.shape) == (H, W, 3) and x.dtype == torch.uint8
    np.testing.assert_array_equal(x.numpy(), ref[7])
    np.testing.assert_array_equal(tc[28:30].numpy(), ref[28:30])  # the last frames decode
    r = BufferedVideoReader(video_readers=[tc, TorchCodecVideoReader(paths[1])], buffer_size=16)
    np.testing.assert_array_equal(r[29:31].numpy(), ref[29:31])
    assert r.frame_height_width == [H, W]


def test_readers_feed_frame_visualizer_and_dataset(videos, tmp_path):
    from face_rhythm.data_importing import Dataset_videos

    paths, ref = videos
    r = BufferedVideoReader(paths_videos=paths, buffer_size=16)
    ds = Dataset_videos(bufferedVideoReader=r, verbose=0)
    assert ds.num_frames_total == 50
    np.testing.assert_array_equal(ds.example_image, ref[0])
    fv = vis.FrameVisualizer(path_save=str(tmp_path / "o.avi"),
                             frame_height_width=r.frame_height_width, frame_rate=r.frame_rate)
    pts = np.tile(np.array([[[40.0, 50.0]]], np.float32), (len(r), 1, 1))
    assert vis.play_video_with_points(r, fv, points=pts, idx_frames=range(0, 50, 5)) == 10
    assert (tmp_path / "o.avi").stat().st_size > 0  # complete on return, no close() needed


def test_tracker_streams_buffered_and_torchcodec_readers(videos):
    from face_rhythm import point_tracking as fpt

    paths, ref = videos
    xs, ys = np.meshgrid(np.arange(40, 121, 20), np.arange(30, 91, 20))
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    expected = fpt.track_array(ref[:30], pts, fpt.PROJECT_PARAMS)
    for source in (BufferedVideoReader(paths_videos=paths[:1]),
                   BufferedVideoReader(video_readers=[TorchCodecVideoReader(paths[0])])):
        refs = fpt._resolve_videos(source)
        assert refs[0].reader is None  # streamed from the file, not frame by frame
        out = fpt.PointTracker(source, pts, verbose=0).track_points()
        np.testing.assert_array_equal(out["0"], expected.points_tracked)
