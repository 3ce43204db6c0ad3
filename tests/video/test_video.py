"""Tests of face_rhythm.video and face_rhythm.data_importing (streaming video input)."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from face_rhythm import video as V
from face_rhythm.data_importing import Dataset_videos
from face_rhythm.helpers import BufferedVideoReader

MOUSEFLOW = "videos/mouseflow_face_75fps.mp4"
WHISKERS = "videos/whiskiwrap_whiskers_10s.mp4"

# --------------------------------------------------------------------------------------------
# numbered synthetic videos: each frame carries its (video, frame) indices as 8x8 binary blocks

H, W = 48, 64
NUMBERED_LENGTHS = (23, 17, 30)


def _encode(video: int, frame: int, h: int = H, w: int = W) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    for row, value in enumerate((frame & 0xFF, frame >> 8, video)):
        for bit in range(8):
            if (value >> bit) & 1:
                img[row * 8:(row + 1) * 8, bit * 8:(bit + 1) * 8] = 255
    img[24:, :, 1] = 40 + 5 * video  # some colour, so RGB order matters
    img[24:, :, 2] = 200
    return img


def _decode(frame: np.ndarray) -> tuple[int, int]:
    """(video, frame) from a decoded RGB or gray frame."""
    gray = frame if frame.ndim == 2 else frame[..., 0]
    bits = gray[4:24:8, 4:64:8] > 128  # block centres, rows 0..2
    vals = [int(sum(int(b) << i for i, b in enumerate(row))) for row in bits]
    return vals[2], vals[0] + (vals[1] << 8)


def _write(path: Path, frames: list[np.ndarray], fps: float = 30.0, fourcc: str = "FFV1"
           ) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def numbered(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("numbered")
    return [_write(d / f"part{v}.avi", [_encode(v, k) for k in range(n)])
            for v, n in enumerate(NUMBERED_LENGTHS)]


@pytest.fixture(scope="module")
def clips(shared_data) -> dict[str, Path]:
    return {"mouseflow": shared_data / MOUSEFLOW, "whiskers": shared_data / WHISKERS}


# --------------------------------------------------------------------------------------------
# real clips


def test_probe_real_clips_match_readme(clips):
    info = V.probe_video(clips["mouseflow"])
    assert (info.n_frames, info.height, info.width, info.n_channels) == (502, 582, 782, 3)
    assert info.frame_rate == pytest.approx(75.0)
    assert info.backend == "decord"
    w = V.probe_video(clips["whiskers"], fps=500.0)  # container says 30; the override wins
    assert (w.n_frames, w.height, w.width, w.frame_rate) == (300, 480, 640, 500.0)
    assert V.probe_video(clips["whiskers"]).frame_rate == pytest.approx(30.0)
    cv = V.probe_video(clips["mouseflow"], backend="opencv")
    assert (cv.n_frames, cv.height, cv.width, cv.backend) == (502, 582, 782, "opencv")

    table = V.video_metadata([clips["mouseflow"], clips["whiskers"]], fps=[None, 500.0])
    assert table["n_frames"].tolist() == [502, 300]
    assert table["first_frame"].tolist() == [0, 502]
    assert table["frame_rate"].tolist() == [75.0, 500.0]
    assert table.attrs["n_frames_total"] == 802
    assert table["duration_s"].iloc[0] == pytest.approx(502 / 75)


def test_opencv_fallback_returns_decord_frames(clips):
    """Measured on both real clips: the two backends agree to the bit (max |diff| = 0)."""
    w = str(clips["whiskers"])
    dec = np.concatenate(list(V.iter_chunks(w, chunk_size=40, stop=120, backend="decord")))
    ocv = np.concatenate(list(V.iter_chunks(w, chunk_size=40, stop=120, backend="opencv")))
    assert dec.shape == ocv.shape == (120, 480, 640, 3)
    assert int(np.abs(dec.astype(np.int16) - ocv).max()) == 0
    # mouseflow (keyframes at 0, 250, 500): a stretch from a keyframe, and random access
    m = str(clips["mouseflow"])
    seq_d = V.read_frames(m, slice(250, 262), backend="decord")
    seq_o = V.read_frames(m, slice(250, 262), backend="opencv")
    assert int(np.abs(seq_d.astype(np.int16) - seq_o).max()) == 0
    idx = [501, 3, 260, 3, 0, 500]
    rnd_d = V.read_frames(m, idx, backend="decord")
    rnd_o = V.read_frames(m, idx, backend="opencv")
    assert int(np.abs(rnd_d.astype(np.int16) - rnd_o).max()) == 0
    np.testing.assert_array_equal(rnd_d[1], rnd_d[3])
    np.testing.assert_array_equal(rnd_d[2], seq_d[10])
    assert V.read_frames(m, 260).shape == (582, 782, 3)


def test_grayscale_is_rounded_channel_mean(clips):
    rgb = V.read_frames(clips["whiskers"], slice(10, 14))
    gray = next(V.iter_chunks(clips["whiskers"], chunk_size=4, start=10, grayscale=True))
    assert gray.shape == (4, 480, 640) and gray.dtype == np.uint8
    expected = ((rgb.sum(-1, dtype=np.uint16) + 1) // 3).astype(np.uint8)
    np.testing.assert_array_equal(gray, expected)


def test_rgb_to_gray_exact_for_every_channel_sum():
    s = np.arange(766)
    x = np.stack([np.minimum(s, 255), np.clip(s - 255, 0, 255), np.clip(s - 510, 0, 255)], -1)
    x = x.astype(np.uint8)[None]
    np.testing.assert_array_equal(V.rgb_to_gray(x)[0], np.rint(s / 3).astype(np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        V.rgb_to_gray(np.zeros((2, 2, 3), np.float32))


def test_get_frames_time_window(clips):
    w = clips["whiskers"]  # 30 Hz in the container, keyframes every 12 frames
    frames = V.get_frames(w, 2.0, 2.5)  # int(0.5 * 30) = 15 frames from frame 60
    assert frames.shape == (15, 480, 640, 3)
    np.testing.assert_array_equal(frames[[0, -1]], V.read_frames(w, [60, 74]))
    tail = V.get_frames(w, 9.8, 10.8)  # stops at the end: frames 294..299
    assert tail.shape[0] == 6
    with pytest.raises(V.VideoError, match="no frames between"):
        V.get_frames(w, 11.0, 12.0)


def test_reference_import_paths():
    from face_rhythm.alignment import SFTPVideoFrameExtractor, get_frames  # imports torch
    from face_rhythm.helpers import VideoReaderWrapper
    from face_rhythm.remote import SFTPVideoFrameExtractor as Extractor

    assert get_frames is V.get_frames
    assert SFTPVideoFrameExtractor is Extractor
    assert BufferedVideoReader is V.BufferedVideoReader
    assert VideoReaderWrapper is V.VideoReaderWrapper


# --------------------------------------------------------------------------------------------
# iteration, indexing, memory


@pytest.mark.parametrize("prefetch", [0, 2])
def test_iteration_across_files_yields_every_frame_once(numbered, prefetch):
    total = sum(NUMBERED_LENGTHS)
    start, stop = 5, total - 3
    chunks = list(V.iter_frame_chunks(numbered, chunk_size=7, start=start, stop=stop,
                                      prefetch=prefetch))
    seen = []
    offsets = np.cumsum((0, *NUMBERED_LENGTHS))
    for c in chunks:
        assert 1 <= len(c.frames) <= 7 and c.frames.shape[1:] == (H, W, 3)
        assert c.stop <= NUMBERED_LENGTHS[c.video]  # a chunk never spans two videos
        assert c.index == offsets[c.video] + c.start
        for k, f in enumerate(c.frames):
            assert _decode(f) == (c.video, c.start + k)
            seen.append(c.index + k)
    assert seen == list(range(start, stop))


def test_streaming_backend_choice(numbered, caplog):
    """backend="auto": probe and random access with decord2, sequential streams with OpenCV
    (bounded memory; see STREAM_WITH_OPENCV); explicit backends are used as given, and an
    explicit decord2 stream says in the log that its memory is not bounded."""
    info = V.probe_video(numbered[0])
    assert info.backend == "decord"
    with caplog.at_level("WARNING", logger=V.logger.name):
        with V.open_stream(info) as src:
            assert src.backend == "opencv"
            np.testing.assert_array_equal(src.read_range(3, 6),
                                          V.read_frames(numbered[0], [3, 4, 5]))
        assert not caplog.records
        with V.open_stream(info, "decord") as src:
            assert src.backend == "decord"
    assert "without bound" in caplog.text and "backend='auto'" in caplog.text


def test_iter_chunks_gray_and_single_video(numbered):
    chunks = list(V.iter_chunks(numbered[1], chunk_size=5, grayscale=True, prefetch=1))
    assert [len(c) for c in chunks] == [5, 5, 5, 2]
    assert all(c.ndim == 3 for c in chunks)
    assert [_decode(f)[1] for c in chunks for f in c] == list(range(17))


@pytest.mark.parametrize("prefetch", [0, 2])
def test_chunk_arrays_are_recycled_only_when_dropped(numbered, prefetch):
    """Streams decode into a few recycled arrays; a chunk the consumer still holds (or a view
    of it) is never overwritten."""
    kept, buffers, seen = [], set(), []
    for n, c in enumerate(V.iter_frame_chunks(numbered, chunk_size=4, prefetch=prefetch)):
        seen += [_decode(f) for f in c.frames]  # correct when received
        buffers.add(c.frames.__array_interface__["data"][0])
        if n % 5 == 0:
            kept.append((c.video, c.start, c.frames[1:]))  # a view keeps the whole chunk
        del c
    assert seen == [(v, k) for v, n in enumerate(NUMBERED_LENGTHS) for k in range(n)]
    for v, start, frames in kept:  # still intact after the stream went on
        assert [_decode(f) for f in frames] == [(v, start + 1 + k) for k in range(len(frames))]
    n_chunks = sum(-(-n // 4) for n in NUMBERED_LENGTHS)
    # recycled: far fewer arrays than chunks (the kept ones, plus a pool of prefetch + 3)
    assert len(buffers) <= len(kept) + prefetch + 3 < n_chunks


def test_pipelined_opencv_stream_stops_its_helper(numbered):
    """Long OpenCV streams decode in a helper thread; closing the stream early stops it, and
    the source stays usable (its position is known)."""
    info = V.probe_video(numbered[2])  # 30 frames: pipelined
    n_threads = threading.active_count()
    with V.open_stream(info) as src:
        assert src.backend == "opencv"
        gen = src._stream(0, 30, 4, True, V._ChunkPool(3))
        assert [_decode(f) for f in next(gen)] == [(2, k) for k in range(4)]
        assert threading.active_count() == n_threads + 1
        gen.close()
        assert threading.active_count() == n_threads
        assert [_decode(f) for f in src.read_range(9, 12)] == [(2, 9), (2, 10), (2, 11)]
        assert [_decode(f) for c in src._stream(20, 30, 6, False, V._ChunkPool(3))
                for f in c] == [(2, k) for k in range(20, 30)]  # short: not pipelined


def test_chunk_pool_reuses_only_free_arrays():
    def ptr(x: np.ndarray) -> int:
        return x.__array_interface__["data"][0]

    pool = V._ChunkPool(capacity=3)
    a = pool.get((3, 4, 5))
    a_ptr = ptr(a)
    b = pool.get((3, 4, 5))  # a is held: a new array
    view = a[1:]
    del a
    c = pool.get((3, 4, 5))  # a's view is alive: not a
    assert a_ptr not in (ptr(b), ptr(c))
    del view
    d = pool.get((2, 4, 5))  # a is free now: a prefix view of it
    assert d.shape == (2, 4, 5) and ptr(d) == a_ptr
    assert pool.get((3, 4)).shape == (3, 4)  # another frame shape: a new array (evicts a)
    del d
    e = pool.get((3, 4, 5))  # a left the pool (the oldest), b and c are held: a new one
    assert ptr(e) not in (ptr(b), ptr(c))
    c_ptr = ptr(c)
    del c
    assert ptr(pool.get((3, 4, 5))) == c_ptr  # c is free and still pooled


def test_gray_streams_equal_gray_of_rgb(clips):
    """The fused per-frame conversion (OpenCV: from BGR; decord2: through an RGB buffer) gives
    the same frames as converting the RGB chunks."""
    w = str(clips["whiskers"])
    for backend in ("auto", "opencv", "decord"):
        rgb = np.concatenate(list(V.iter_chunks(w, chunk_size=3, stop=7, backend=backend)))
        gray = np.concatenate(list(V.iter_chunks(w, chunk_size=3, stop=7, backend=backend,
                                                 grayscale=True)))
        assert gray.shape == (7, 480, 640)
        np.testing.assert_array_equal(gray, V.rgb_to_gray(rgb))


def test_prefetch_memory_is_bounded():
    produced = []

    def factory():
        for k in range(100):
            produced.append(k)
            yield np.zeros(10, np.uint8)

    gen = V._threaded(factory, prefetch=2)
    next(gen)
    time.sleep(0.3)
    # the consumer holds 1 item; at most `prefetch` more were decoded ahead
    assert 1 <= len(produced) <= 3
    n_threads = threading.active_count()
    gen.close()  # stops the worker
    assert threading.active_count() == n_threads - 1
    assert len(produced) <= 3


def test_worker_errors_reach_the_consumer():
    def factory():
        yield 1
        raise V.VideoError("x.mp4", "broken on purpose")

    gen = V._threaded(factory, prefetch=1)
    assert next(gen) == 1
    with pytest.raises(V.VideoError, match="x.mp4: broken on purpose"):
        next(gen)


def test_buffered_reader_continuous_and_by_video_agree(numbered):
    cont = BufferedVideoReader(paths_videos=[str(p) for p in numbered], buffer_size=8,
                               prefetch=1, posthold=1, method_getitem="continuous")
    byv = BufferedVideoReader(paths_videos=numbered, buffer_size=8, prefetch=1,
                              method_getitem="by_video")
    total = sum(NUMBERED_LENGTHS)
    assert len(cont) == cont.num_frames_total == total
    assert cont.num_videos == 3 and cont.frame_height_width == [H, W]  # one [H, W]
    assert cont.boundaries[0] == [(0, 7), (8, 15), (16, 22)]
    g = 0
    for v, n in enumerate(NUMBERED_LENGTHS):
        for k in range(n):
            a = cont[g]  # (1, H, W, 3) torch uint8, as the original
            np.testing.assert_array_equal(a, byv[(v, k)])
            assert _decode(a[0]) == (v, k)
            held = sum(s is not None for row in cont.slots for s in row)
            assert len(cont._slots) <= 1 + 1 + 1  # posthold + current + prefetch
            assert held <= 3
            g += 1
    # slices across file boundaries and backwards
    block = cont[20:45]
    assert [_decode(f) for f in block] == [(0, 20), (0, 21), (0, 22)] + \
        [(1, k) for k in range(17)] + [(2, k) for k in range(5)]
    np.testing.assert_array_equal(cont[[44, 2, 44]][0], block[-1])
    np.testing.assert_array_equal(byv[(2, slice(0, 5))], block[-5:])
    sub = byv[1]  # an int alone selects a video -> a new reader
    assert isinstance(sub, BufferedVideoReader) and len(sub) == 17
    with pytest.raises(IndexError):
        cont[total]
    # iteration from a seek position
    cont.set_iterator_frame_idx(30)
    assert [_decode(f) for f in cont][:2] == [(1, 7), (1, 8)]
    assert sum(1 for _ in cont) == total - 30
    cont.close()
    byv.close()


def test_buffered_reader_accepts_readers(numbered):
    import decord

    vr = decord.VideoReader(str(numbered[0]))
    r = BufferedVideoReader(video_readers=[vr, V.VideoReaderWrapper(numbered[1])],
                            buffer_size=10, prefetch=0)
    assert len(r) == 40
    assert _decode(r[25][0]) == (1, 2)
    assert [_decode(f)[1] for f in r][:3] == [0, 1, 2]


def test_dataset_videos(numbered, clips, caplog):
    ds = Dataset_videos(paths_videos=numbered, contiguous=True)
    assert len(ds) == 3 and ds.num_frames_total == sum(NUMBERED_LENGTHS)
    assert ds.metadata["num_frames"] == list(NUMBERED_LENGTHS)
    assert ds.frame_rate == pytest.approx(30.0)
    assert ds.frame_height_width == (H, W) and ds.num_channels == 3
    np.testing.assert_array_equal(ds.example_image, _encode(0, 0))  # FFV1 is lossless
    assert _decode(ds[2][4]) == (2, 4)
    assert ds.table["first_frame"].tolist() == [0, 23, 40]
    ds2 = Dataset_videos(paths_videos=numbered[:2], frame_rate_clamp=120.0)
    assert ds2.frame_rate == 120.0 and ds2.metadata["frame_rate"] == [120.0, 120.0]
    reader = BufferedVideoReader(paths_videos=numbered, buffer_size=16)
    ds3 = Dataset_videos(bufferedVideoReader=reader)
    assert ds3.num_frames_total == 70 and ds3.paths_videos == reader.paths_videos
    with pytest.raises(ValueError, match="exactly one"):
        Dataset_videos()
    # different frame sizes: an error in a contiguous session, a warning otherwise
    mixed = [numbered[0], clips["whiskers"]]
    with pytest.raises(V.VideoError, match=r"whiskiwrap.*480x640.*differs from 48x64"):
        Dataset_videos(paths_videos=mixed, contiguous=True)
    assert Dataset_videos(paths_videos=mixed).frame_height_width == (H, W)
    assert "different frame sizes" in caplog.text


# --------------------------------------------------------------------------------------------
# bad input: one clear error naming the file, before any long work


def test_missing_dir_empty_and_not_a_video(tmp_path):
    with pytest.raises(V.VideoError, match=r"nope\.mp4: file not found"):
        V.probe_video(tmp_path / "nope.mp4")
    with pytest.raises(V.VideoError, match="is a directory"):
        V.probe_video(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(V.VideoError, match=r"empty\.mp4: empty file"):
        V.probe_video(tmp_path / "empty.mp4")
    (tmp_path / "notes.mp4").write_text("not a video\n" * 50)
    for backend in ("auto", "opencv"):
        with pytest.raises(V.VideoError, match=r"notes\.mp4: not a readable video"):
            V.probe_video(tmp_path / "notes.mp4", backend=backend)
    with pytest.raises(V.VideoError, match=r"notes\.mp4"):  # iter_chunks validates at the call
        V.iter_chunks([tmp_path / "notes.mp4"])
    with pytest.raises(ValueError, match="backend"):
        V.probe_video(tmp_path / "notes.mp4", backend="gpu")


def test_zero_frame_video(tmp_path):
    path = tmp_path / "zero.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    writer.release()
    with pytest.raises(V.VideoError, match=r"zero\.avi: .*(no frames|no video stream)"):
        V.probe_video(path)


def test_truncated_real_clip(clips, tmp_path):
    data = clips["whiskers"].read_bytes()
    cut = tmp_path / "whiskers_cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])  # the index (moov) is at the end: lost
    with pytest.raises(V.VideoError, match=r"whiskers_cut\.mp4: not a readable video"):
        V.probe_video(cut)


def test_truncated_file_with_intact_index(tmp_path):
    """An AVI cut in half: decord2 sees 30 frames, the header declares 60."""
    full = _write(tmp_path / "full.avi", [_encode(0, k) for k in range(60)], fourcc="MJPG")
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    for backend in ("auto", "opencv"):
        with pytest.raises(V.VideoError, match=r"cut\.avi: truncated or corrupt"):
            V.probe_video(cut, backend=backend)
    assert V.probe_video(full).n_frames == 60


def _set_avi_rate(path: Path, rate: int) -> None:
    """Overwrite the frame rate in an AVI header (strh dwScale=1, dwRate=rate)."""
    data = bytearray(path.read_bytes())
    i = data.find(b"strh")
    data[i + 28:i + 36] = struct.pack("<II", 1, rate)
    path.write_bytes(bytes(data))


def test_frame_rate_missing_or_absurd(tmp_path, numbered):
    crazy = _write(tmp_path / "crazy.avi", [_encode(0, k) for k in range(3)])
    _set_avi_rate(crazy, 1_000_000)  # OpenCV's writer refuses such rates
    with pytest.raises(V.VideoError, match=r"crazy\.avi: the container's frame rate 1e\+06 Hz "
                                           r"is implausible"):
        V.probe_video(crazy)
    assert V.probe_video(crazy, fps=90.0).frame_rate == 90.0  # the override wins
    for bad in (0, -5, float("nan"), 1e9):
        with pytest.raises(V.VideoError, match="frame rate override"):
            V.probe_video(numbered[0], fps=bad)
    with pytest.raises(V.VideoError, match=r"frame rate override 'fast'"):
        V.probe_video(numbered[0], fps="fast")


def test_mismatched_sizes_and_bad_ranges(numbered, clips):
    with pytest.raises(V.VideoError, match=r"whiskiwrap_whiskers_10s\.mp4: frame size 480x640"):
        V.validate_videos([numbered[0], clips["whiskers"]])
    infos = V.validate_videos([numbered[0], clips["whiskers"]], same_size=False)
    assert [i.n_frames for i in infos] == [23, 300]
    with pytest.raises(ValueError, match=r"frame range \[0, 99\) is outside the 23 frames"):
        V.iter_chunks(numbered[0], stop=99)
    with pytest.raises(ValueError, match="chunk_size"):
        V.iter_chunks(numbered[0], chunk_size=0)
    with pytest.raises(IndexError, match="out of range for 23 frames"):
        V.read_frames(numbered[0], [0, 23])
    with pytest.raises(ValueError, match="no video paths"):
        V.validate_videos([])


def test_session_index_helpers():
    offsets = V.session_offsets([3, 0, 2])
    np.testing.assert_array_equal(offsets, [0, 3, 3, 5])
    video, local = V.locate_frames([0, 2, 3, 4], offsets)
    np.testing.assert_array_equal(video, [0, 0, 2, 2])
    np.testing.assert_array_equal(local, [0, 2, 0, 1])
    with pytest.raises(IndexError):
        V.locate_frames(5, offsets)
    err = V.VideoError("a.mp4", "broken")
    assert str(err) == "a.mp4: broken" and isinstance(err, ValueError)
    assert err.path == "a.mp4" and err.problem == "broken"


def test_auto_backend_falls_back_to_opencv_with_a_log_line(clips, monkeypatch, caplog):
    """Without a usable decord2, ``auto`` reads with OpenCV, says so in the log, and gives the
    frames decord2 gives."""
    w = str(clips["whiskers"])
    expected = V.read_frames(w, slice(3, 6), backend="decord")

    def unavailable():
        raise V._BackendUnavailable("decord2 is not installed")

    monkeypatch.setattr(V.sources, "_import_decord", unavailable)  # where the decoders call it
    with caplog.at_level("WARNING", logger=V.logger.name), V.open_video(w) as src:
        assert src.backend == "opencv"
        np.testing.assert_array_equal(src.read_range(3, 6), expected)
    assert any("decord2 failed" in r.getMessage() and "OpenCV" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(V.VideoError, match="decord"):
        V.open_video(w, backend="decord")  # forced: no silent fallback


@pytest.mark.parametrize("backend", ["decord", "opencv"])
def test_buffered_reader_starting_seek_position_and_backend(numbered, backend):
    """``starting_seek_position`` sets where iteration begins (continuous index, across file
    boundaries); ``backend`` picks the decoder and gives the same frames."""
    start = NUMBERED_LENGTHS[0] + 4  # frame 4 of the second video
    with BufferedVideoReader(paths_videos=numbered, buffer_size=5, prefetch=1,
                             starting_seek_position=start, backend=backend) as r:
        assert r.backend == backend
        got = [_decode(f) for f in r]
        assert [v.info.backend for v in r.videos] == [backend] * len(numbered)
    assert got == [(1, k) for k in range(4, NUMBERED_LENGTHS[1])] + [
        (2, k) for k in range(NUMBERED_LENGTHS[2])]
    with pytest.raises(ValueError, match="outside"):
        BufferedVideoReader(paths_videos=numbered, starting_seek_position=sum(NUMBERED_LENGTHS)
                            + 1)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status")
def test_a_random_access_with_decord_does_not_decode_the_rest_of_the_video(tmp_path):
    """decord's reader goes on decoding the whole video in the background after any read
    (dmlc/decord#157); the decord source resets it after each random access. Without that,
    two reads of this 800-frame video made the process grow by 211 MB within 2 s."""
    from face_rhythm import synthetic

    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            return int(next(x for x in f if x.startswith("VmRSS:")).split()[1]) / 1024

    face = synthetic.default_face(height=240, width=320, n_frames=800)
    path = synthetic.write_video(face, tmp_path / "long.mp4", fourcc="mp4v")
    reader = V.VideoReaderWrapper(path, backend="decord")
    before = rss_mb()
    first = reader[0]
    some = reader[[700, 5]]
    time.sleep(2.0)  # decord decodes several hundred such frames a second
    assert rss_mb() - before < 60
    np.testing.assert_array_equal(some[1], V.read_frames(path, 5, backend="opencv"))
    assert first.shape == (240, 320, 3)
