"""BufferedVideoReader streams: it holds at most ``posthold + 1 + prefetch`` slots of frames,
whatever the video's length (the reference API's 1000-frame buffers stay bounded)."""

from __future__ import annotations

import numpy as np
import pytest

from face_rhythm.synthetic import default_face, write_video
from face_rhythm.video import BufferedVideoReader


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    face = default_face(height=120, width=160, n_frames=60, noise_std=0.0)
    path = write_video(face, tmp_path_factory.mktemp("buffered") / "clip.avi")
    return face, path


@pytest.mark.parametrize(("prefetch", "posthold"), [(1, 1), (0, 0), (2, 1)])
def test_sequential_reads_hold_a_bounded_number_of_slots(clip, prefetch, posthold):
    face, path = clip
    with BufferedVideoReader(paths_videos=[str(path)], buffer_size=8, prefetch=prefetch,
                             posthold=posthold, backend="opencv", verbose=0) as reader:
        most = 0
        for i in range(0, face.n_frames, 3):
            frame = reader[i].cpu().numpy()
            np.testing.assert_array_equal(frame[0, ..., 0], face.render(i, noise=False))
            most = max(most, len(reader._slots))
        assert 1 <= most <= posthold + 1 + prefetch
        reader.wait_for_loading()
        assert len(reader._slots) <= posthold + 1 + prefetch


def test_iteration_streams_every_frame_once(clip):
    face, path = clip
    with BufferedVideoReader(paths_videos=[str(path)], buffer_size=16, prefetch=1,
                             posthold=1, backend="opencv", verbose=0) as reader:
        n = 0
        for i, frame in enumerate(reader):
            if i % 17 == 0:
                np.testing.assert_array_equal(frame.cpu().numpy()[..., 0],
                                              face.render(i, noise=False))
            n += 1
        assert n == face.n_frames
        assert not reader._slots  # iteration streams chunks; no slot is loaded
