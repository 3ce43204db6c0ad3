"""The ROI drawing server: its JSON API (plain HTTP) and the page in real headless Chromium.

The browser test needs Debian's chromium (/usr/bin/chromium) and the playwright package
(``.ci/install_browser.sh`` installs both); it is skipped, with the reason, only when one of
them is absent.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from face_rhythm.roi_server import RoiDrawingServer, add_rois_parser, load_frame, run_draw
from face_rhythm.rois import load_rois, save_rois_yaml

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _image(h=120, w=160) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    img = ((xx * 255 // w) ^ (yy * 255 // h)).astype(np.uint8)
    return np.repeat(img[:, :, None], 3, axis=2)


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def _post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _exact_closed_mask(vertices, h, w, denom=4):
    """Pixel centres inside (even-odd) or on the polygon, in exact integer arithmetic.

    Vertices must be multiples of 1/denom px (the page writes quarter pixels).
    """
    v = np.asarray(vertices, float) * denom
    assert np.array_equal(v, np.round(v))
    v = v.astype(np.int64)
    yy, xx = np.mgrid[:h, :w].astype(np.int64) * denom
    inside = np.zeros((h, w), bool)
    on_edge = np.zeros((h, w), bool)
    for (x0, y0), (x1, y1) in zip(v, np.roll(v, -1, axis=0), strict=True):
        cross = (x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0)
        on_edge |= (cross == 0) & (min(x0, x1) <= xx) & (xx <= max(x0, x1)) & \
            (min(y0, y1) <= yy) & (yy <= max(y0, y1))
        straddle = (y0 > yy) != (y1 > yy)
        lhs, rhs = (xx - x0) * (y1 - y0), (yy - y0) * (x1 - x0)
        inside ^= straddle & ((lhs < rhs) if y1 > y0 else (lhs > rhs))
    return inside | on_edge


def _lattice_count(mask, spacing):
    """Lattice points (bbox min start, max exclusive) inside ``mask``."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(mask[rows[0]:rows[-1]:spacing, cols[0]:cols[-1]:spacing].sum())


# ----------------------------------------------------------------------------- API, no browser


def test_server_api_preview_save_finish(tmp_path):
    out = tmp_path / "rois.yaml"
    with RoiDrawingServer(_image(), out, point_spacing=6, source="synthetic") as srv:
        assert srv.url.startswith("http://localhost:")
        status, _, body = _get(srv.url)
        assert status == 200 and b"app.js" in body and b"http" not in body.replace(
            b'href="data:,"', b"")  # nothing fetched from elsewhere
        assert _get(srv.url + "frame.png")[2][:4] == b"\x89PNG"
        st = json.loads(_get(srv.url + "api/state")[2])
        assert (st["height"], st["width"], st["point_spacing"]) == (120, 160, 6)
        assert st["rois"] == []

        face = {"name": "face", "vertices": [[10, 20], [150, 12], [140, 110], [12, 100]],
                "points": True, "mask": True}
        short = {"name": "nose", "vertices": [[5, 5], [9, 9]], "points": False, "mask": False}
        _, pv = _post(srv.url + "api/preview", {"rois": [face, short], "point_spacing": 6})
        assert pv["errors"] == ["ROI 'nose' has 2 vertices (needs at least 3)"]
        n_ind = _lattice_count(_exact_closed_mask(face["vertices"], 120, 160), 6)
        assert pv["n_points"] == len(pv["points"]) == n_ind

        code, bad = _post(srv.url + "api/save", {"rois": [face, short], "point_spacing": 6})
        assert code == 400 and "ROI 'nose'" in bad["error"] and not out.exists()
        code, bad = _post(srv.url + "api/save", {"rois": [face], "point_spacing": 500})
        assert code == 400 and "zero points" in bad["error"]
        code, ok = _post(srv.url + "api/save", {"rois": [face], "point_spacing": 6,
                                                "finish": True})
        assert code == 200 and ok["n_points"] == n_ind and ok["finished"]
        assert srv.wait(5)
    rs = load_rois(out, frame_height_width=(120, 160))
    assert rs.polygons["face"].tolist() == face["vertices"] and len(rs.points()) == n_ind

    # an existing file is the starting point of the next session
    with RoiDrawingServer(_image(), out) as srv:
        st = json.loads(_get(srv.url + "api/state")[2])
        assert st["rois"][0]["vertices"] == face["vertices"] and st["point_spacing"] == 6


def test_cli_parser_and_errors(tmp_path):
    parser = argparse.ArgumentParser(prog="face-rhythm")
    add_rois_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["rois", "draw", "v.mp4", "-o", "r.yaml", "--frame", "3",
                              "--port", "0", "--spacing", "7"])
    assert (args.source, args.output, args.frame, args.port, args.spacing) == \
        ("v.mp4", "r.yaml", 3, 0, 7) and args.func is run_draw
    with pytest.raises(SystemExit, match="nothere.mp4: no such video or image file"):
        run_draw(parser.parse_args(["rois", "draw", str(tmp_path / "nothere.mp4"), "-o", "x"]))
    img = tmp_path / "frame.png"
    import cv2

    cv2.imwrite(str(img), _image())
    assert load_frame(img).shape == (120, 160, 3)
    with pytest.raises(SystemExit, match="--frame 2 given for an image"):
        run_draw(parser.parse_args(["rois", "draw", str(img), "-o", "x", "--frame", "2"]))
    other = save_rois_yaml(load_rois_for(tmp_path, (50, 60)), tmp_path / "other.yaml")
    with pytest.raises(SystemExit, match="other.yaml: ROI file is for frames of 60x50"):
        run_draw(parser.parse_args(["rois", "draw", str(img), "-o", str(other)]))


def load_rois_for(tmp_path, hw):
    from face_rhythm.rois import RoiSet

    return RoiSet({"face": [[1, 1], [20, 1], [20, 20]]}, hw)


# ----------------------------------------------------------------------------- real browser


def _playwright_or_skip():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed (/usr/bin/chromium); run "
                    ".ci/install_browser.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright not installed; run .ci/install_browser.sh")
    return sync_playwright


@pytest.mark.browser
def test_draw_page_in_headless_chromium(tmp_path):
    sync_playwright = _playwright_or_skip()
    video = REPO.parent / "shared" / "data" / "videos" / "mouseflow_face_75fps.mp4"
    if video.is_file():
        source, frame_args = video, ["--frame", "10"]
    else:  # a user's fresh clone without ../shared: a synthetic image
        import cv2

        source, frame_args = tmp_path / "frame.png", []
        cv2.imwrite(str(source), cv2.resize(_image(), (640, 480)))
    h, w = load_frame(source, int(frame_args[1]) if frame_args else 0).shape[:2]
    out = tmp_path / "rois.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "face_rhythm.roi_server", "rois", "draw", str(source), "-o",
         str(out), "--port", "0", "--spacing", "9", *frame_args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        first = proc.stdout.readline()
        m = re.search(r"(http://localhost:\d+/)", first)
        assert m, f"no URL printed: {first!r}"
        url = m.group(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 700})
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: problems.append("external: " + r.url)
                    if not r.url.startswith((url, "data:")) else None)
            page.goto(url)
            page.wait_for_selector('body[data-ready="1"]')
            canvas = page.locator("#canvas")
            box = canvas.bounding_box()
            scale = box["width"] / w
            assert page.evaluate("frApp.scale") == pytest.approx(scale)

            def to_img(u, v):  # CSS position in the canvas -> image (x, y)
                return (u / scale - 0.5, v / scale - 0.5)

            # fractions of the frame: a face polygon around snout and whisker pad
            face_f = [(0.50, 0.16), (0.86, 0.18), (0.97, 0.45), (0.90, 0.70), (0.55, 0.72),
                      (0.45, 0.45)]
            pad_f = [(0.70, 0.35), (0.93, 0.40), (0.85, 0.66), (0.60, 0.62)]
            face_css = [(round(a * box["width"]), round(b * box["height"])) for a, b in face_f]
            pad_css = [(round(a * box["width"]), round(b * box["height"])) for a, b in pad_f]

            page.fill("#spacing", "12")
            page.press("#spacing", "Enter")
            for u, v in face_css:
                canvas.click(position={"x": u, "y": v})
            # drag the first vertex away, then undo the drag
            u0, v0 = face_css[0]
            page.mouse.move(box["x"] + u0, box["y"] + v0)
            page.mouse.down()
            page.mouse.move(box["x"] + u0 + 30, box["y"] + v0 + 25, steps=4)
            page.mouse.up()
            moved = page.evaluate("frApp.state.rois[0].vertices[0]")
            assert moved[0] == pytest.approx(to_img(u0 + 30, v0)[0], abs=0.5 / scale + 0.25)
            page.click("#undo")
            # right-click deletes a vertex; undo brings it back
            canvas.click(position={"x": face_css[2][0], "y": face_css[2][1]}, button="right")
            assert page.evaluate("frApp.state.rois[0].vertices.length") == 5
            page.keyboard.press("Control+z")
            assert page.evaluate("frApp.state.rois[0].vertices.length") == 6

            # second ROI: points only in the overlap, not part of the tracking mask
            page.fill("#new-roi-name", "pad")
            page.click("#add-roi-btn")
            for u, v in pad_css:
                canvas.click(position={"x": u, "y": v})
            page.locator('li[data-name="pad"] input[data-k="mask"]').uncheck()
            page.wait_for_function("frApp.idle && frApp.preview.n_points > 0")
            shown = int(page.text_content("#n-points").split()[0])
            art = REPO / "test-artifacts"
            art.mkdir(exist_ok=True)
            page.screenshot(path=str(art / "roi_page.png"))

            page.click("#finish")
            page.wait_for_selector("#status .ok")
            status = page.text_content("#status")
            browser.close()
        assert proc.wait(timeout=30) == 0
        tail = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    assert problems == []
    d = yaml.safe_load(out.read_text())
    assert d["frame_height_width"] == [h, w] and d["point_spacing"] == 12
    assert d["points_from"] == ["face", "pad"] and d["mask_from"] == ["face"]
    tol = 0.5 / scale + 0.25  # click rounding to a CSS pixel + quarter-pixel vertices
    for name, css in (("face", face_css), ("pad", pad_css)):
        got = np.array(d["polygons"][name])
        want = np.array([to_img(u, v) for u, v in css])
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=tol)
        assert np.all(got * 4 == np.round(got * 4))  # quarter pixels
    rs = load_rois(out, frame_height_width=(h, w))
    n = len(rs.points())
    both = _exact_closed_mask(d["polygons"]["face"], h, w) & \
        _exact_closed_mask(d["polygons"]["pad"], h, w)
    assert n == _lattice_count(both, 12) == shown > 20
    assert f"{n} points" in status and f"{n} points" in tail


def test_rois_gui_mode_returns_what_the_page_saved(monkeypatch):
    import threading

    import face_rhythm.rois.server as rsrv
    from face_rhythm.rois import ROIs

    urls: list[str] = []
    got = threading.Event()

    def announce(msg):
        urls.append(re.search(r"http://\S+/", msg).group(0))
        got.set()

    monkeypatch.setattr(rsrv, "_announce", announce)
    face = {"name": "face", "vertices": [[10, 20], [150, 12], [140, 110], [12, 100]],
            "points": True, "mask": True}

    def user():
        assert got.wait(10)
        _post(urls[0] + "api/save", {"rois": [face], "point_spacing": 8, "finish": True})

    t = threading.Thread(target=user, daemon=True)
    t.start()
    r = ROIs("gui", exampleImage=_image(), verbose=0)
    t.join(5)
    assert list(r.roi_points) == ["face"] and r.roiset.point_spacing == 8
    assert r.num_points == _lattice_count(_exact_closed_mask(face["vertices"], 120, 160), 8)
