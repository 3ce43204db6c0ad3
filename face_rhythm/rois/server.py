"""A small local web page to draw ROI polygons on a frame: ``face-rhythm rois draw``.

The server (standard-library :mod:`http.server`, one thread per request) serves the page in
``face_rhythm/web/`` (package data) (plain HTML/JS/CSS, nothing fetched from the internet), the frame as
PNG, and a JSON API that uses the library itself (:mod:`face_rhythm.rois`) so the grid shown
live is exactly the grid the pipeline will use:

* ``GET /api/state``: frame size, source, output path, spacing and any starting ROIs.
* ``POST /api/preview``: ``{rois: [{name, vertices, points, mask}], point_spacing}`` ->
  ``{points, n_points, errors, warnings}``.
* ``POST /api/save``: same body plus ``finish`` -> writes the YAML file atomically;
  ``finish: true`` also stops the server.

It listens on 127.0.0.1 by default; on a cluster, forward the port with
``ssh -L PORT:localhost:PORT host`` and open the printed URL on your workstation.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import webbrowser
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import numpy as np

from ..errors import RoiError
from .files import load_rois, save_rois_yaml
from .frames import IMAGE_SUFFIXES, _png_bytes, _to_rgb_uint8, load_frame
from .geometry import polygon_self_intersects
from .roiset import DEFAULT_POINT_SPACING, RoiSet

logger = logging.getLogger(__name__)

__all__ = [
    "WEB_DIR",
    "RoiDrawingServer",
    "add_rois_parser",
    "draw_rois_blocking",
    "main",
    "run_draw",
]

#: The drawing page (HTML/JS/CSS), package data of :mod:`face_rhythm`.
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
_STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
           "/index.html": ("index.html", "text/html; charset=utf-8"),
           "/app.js": ("app.js", "text/javascript; charset=utf-8"),
           "/style.css": ("style.css", "text/css; charset=utf-8")}
_MAX_BODY = 16 * 1024 * 1024


# ----------------------------------------------------------------------------- page state


def _roiset_to_page(rs: RoiSet) -> list[dict[str, Any]]:
    return [{"name": n, "vertices": v.astype(float).tolist(),
             "points": n in (rs.points_from or []), "mask": n in (rs.mask_from or [])}
            for n, v in rs.polygons.items()]


def _parse_page_rois(body: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    rois = body.get("rois")
    if not isinstance(rois, list):
        raise RoiError("request has no 'rois' list")
    out = []
    for i, r in enumerate(rois):
        if not isinstance(r, dict):
            raise RoiError(f"ROI #{i} is not an object")
        name = str(r.get("name", "")).strip()
        if not name:
            raise RoiError(f"ROI #{i} has no name")
        out.append({"name": name, "vertices": r.get("vertices") or [],
                    "points": bool(r.get("points")), "mask": bool(r.get("mask"))})
    names = [r["name"] for r in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RoiError(f"ROI names must be unique; repeated: {dup}")
    return out, body.get("point_spacing", DEFAULT_POINT_SPACING)


def _roiset_from_page(rois: list[dict[str, Any]], spacing: Any, hw: tuple[int, int],
                      source: str) -> RoiSet:
    if not rois:
        raise RoiError("draw at least one ROI")
    return RoiSet(polygons={r["name"]: r["vertices"] for r in rois}, frame_height_width=hw,
                  point_spacing=spacing, points_from=[r["name"] for r in rois if r["points"]],
                  mask_from=[r["name"] for r in rois if r["mask"]], source=source)


# ----------------------------------------------------------------------------- server


class RoiDrawingServer:
    """Serve the drawing page for one frame; save to ``output`` (YAML) on request.

    Parameters
    ----------
    image : np.ndarray
        (H, W, 3) uint8 RGB frame.
    output : path-like
        YAML file written by "Save"; if it exists, its ROIs are loaded as the start.
    point_spacing : int
        Starting grid spacing (px) when ``output`` does not exist yet.
    host, port : str, int
        Address to listen on; port 0 picks a free port (see :attr:`url`).
    source : str
        Label shown on the page (e.g. ``video.mp4 frame 10``).
    on_save : callable, optional
        Called with the saved :class:`RoiSet` after each save.
    """

    def __init__(self, image: np.ndarray, output: str | os.PathLike,
                 point_spacing: int = DEFAULT_POINT_SPACING, host: str = "127.0.0.1",
                 port: int = 0, source: str = "",
                 on_save: Callable[[RoiSet], None] | None = None) -> None:
        self.image = _to_rgb_uint8(image, Path(source or "image"))
        self.hw = (int(self.image.shape[0]), int(self.image.shape[1]))
        self.output = Path(output)
        self.source = source
        self.on_save = on_save
        self.finished = threading.Event()
        self.last_saved: RoiSet | None = None
        self._png = _png_bytes(self.image)
        self._lock = threading.Lock()
        self.initial: dict[str, Any] = {"rois": [], "point_spacing": int(point_spacing)}
        if self.output.is_file():
            rs = load_rois(self.output, frame_height_width=self.hw)
            self.initial = {"rois": _roiset_to_page(rs), "point_spacing": rs.point_spacing}
            logger.info("editing existing ROIs from %s", self.output)
        try:
            self.httpd = ThreadingHTTPServer((host, int(port)), self._handler_class())
        except OSError as e:
            raise RoiError(f"cannot listen on {host}:{port} ({e.strerror}); choose another "
                           "--port (0 = any free port)") from None
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"

    # -- API
    def state(self) -> dict[str, Any]:
        h, w = self.hw
        return {"height": h, "width": w, "source": self.source, "output": str(self.output),
                **self.initial}

    def preview(self, body: dict[str, Any]) -> dict[str, Any]:
        errors: list[str] = []
        warnings: list[str] = []
        try:
            rois, spacing = _parse_page_rois(body)
        except ValueError as e:
            return {"points": [], "n_points": 0, "errors": [str(e)], "warnings": []}
        usable = []
        for r in rois:
            n = len(r["vertices"])
            if n < 3:
                errors.append(f"ROI '{r['name']}' has {n} vertices (needs at least 3)")
            else:
                usable.append(r)
                if polygon_self_intersects(np.asarray(r["vertices"], float)):
                    warnings.append(f"ROI '{r['name']}' crosses itself")
        pts = np.zeros((0, 2), np.float32)
        if usable and not any(r["points"] for r in usable):
            errors.append("tick 'points' on at least one ROI")
        elif usable:
            try:
                rs = _roiset_from_page(usable, spacing, self.hw, "page")
                pts = rs.grid()
                if len(pts) == 0:
                    errors.append(f"spacing {rs.point_spacing} leaves zero points")
            except ValueError as e:
                errors.append(str(e).removeprefix("page: "))
        return {"points": pts.tolist(), "n_points": len(pts), "errors": errors,
                "warnings": warnings}

    def save(self, body: dict[str, Any]) -> dict[str, Any]:
        rois, spacing = _parse_page_rois(body)
        rs = _roiset_from_page(rois, spacing, self.hw, "page").validate()
        with self._lock:
            save_rois_yaml(rs, self.output)
            self.last_saved = rs
            self.initial = {"rois": _roiset_to_page(rs), "point_spacing": rs.point_spacing}
        n = len(rs.points())
        logger.info("saved %d ROI(s), %d points to %s", len(rs.polygons), n, self.output)
        if self.on_save is not None:
            self.on_save(rs)
        return {"ok": True, "path": str(self.output), "n_points": n,
                "rois": list(rs.polygons)}

    # -- running
    def start(self) -> Self:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="roi-server",
                                        daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the page said "Save and finish" (True) or ``timeout`` (False)."""
        return self.finished.wait(timeout)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "face-rhythm-rois"

            def log_message(self, fmt, *args):  # route to logging, not stderr
                logger.debug("%s " + fmt, self.address_string(), *args)

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, obj: Any, status: int = 200) -> None:
                self._send(status, json.dumps(obj).encode(), "application/json")

            def do_GET(self):
                route = self.path.split("?", 1)[0]
                if route in _STATIC:
                    name, ctype = _STATIC[route]
                    self._send(200, (WEB_DIR / name).read_bytes(), ctype)
                elif route == "/frame.png":
                    self._send(200, server._png, "image/png")
                elif route == "/api/state":
                    self._json(server.state())
                else:
                    self._json({"error": f"no such page {route}"}, HTTPStatus.NOT_FOUND)

            def do_POST(self):
                route = self.path.split("?", 1)[0]
                try:
                    n = int(self.headers.get("Content-Length", "0"))
                    if n > _MAX_BODY:
                        raise RoiError("request too large")
                    body = json.loads(self.rfile.read(n) or b"{}")
                    if not isinstance(body, dict):
                        raise RoiError("body must be a JSON object")
                except (ValueError, json.JSONDecodeError) as e:
                    self._json({"ok": False, "error": f"bad request: {e}"},
                               HTTPStatus.BAD_REQUEST)
                    return
                if route == "/api/preview":
                    self._json(server.preview(body))
                elif route == "/api/save":
                    try:
                        out = server.save(body)
                    except ValueError as e:
                        self._json({"ok": False, "error": str(e).removeprefix("page: ")},
                                   HTTPStatus.BAD_REQUEST)
                        return
                    if body.get("finish"):
                        out["finished"] = True
                    self._json(out)
                    if body.get("finish"):
                        server.finished.set()
                else:
                    self._json({"error": f"no such endpoint {route}"}, HTTPStatus.NOT_FOUND)

        return Handler


def _announce(msg: str) -> None:
    """A message for the person at the terminal or notebook (stderr, not logging)."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _say(msg: str) -> None:
    """A line of the ``face-rhythm rois draw`` command's own output (stdout)."""
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def draw_rois_blocking(image: np.ndarray, point_spacing: int = DEFAULT_POINT_SPACING,
                       output: str | os.PathLike | None = None, host: str = "127.0.0.1",
                       port: int = 0, open_browser: bool = False) -> RoiSet:
    """Open the drawing page for ``image`` and return the ROIs once "Save and finish" is pressed.

    Used by ``ROIs(select_mode='gui')``. The URL is written to stderr. ``output`` defaults to
    a temporary YAML file (deleted afterwards).
    """
    tmpdir = None
    if output is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="face_rhythm_rois_")
        output = Path(tmpdir.name) / "rois.yaml"
    try:
        with RoiDrawingServer(image, output, point_spacing=point_spacing, host=host,
                              port=port, source="exampleImage") as srv:
            _announce(f"Draw the ROIs at {srv.url} ; press 'Save and finish' when done.")
            if open_browser:
                webbrowser.open(srv.url)
            srv.wait()
            rs = srv.last_saved
        if rs is None:
            raise RuntimeError("the drawing page finished without saving ROIs")
        return rs
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


# ----------------------------------------------------------------------------- command line


def add_rois_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``rois draw VIDEO_OR_IMAGE -o rois.yaml [--frame N] [--port P] [--spacing S]``.

    ``subparsers`` is the object returned by ``ArgumentParser.add_subparsers()``; the
    subcommand sets ``func`` (call it with the parsed namespace; it returns an exit code).
    """
    p = subparsers.add_parser("rois", help="define ROIs (face regions) and the point grid",
                              description="Define ROIs and the point grid.")
    sub = p.add_subparsers(dest="rois_command", required=True, metavar="{draw}")
    d = sub.add_parser(
        "draw", help="draw ROI polygons in the browser and save them as YAML",
        description="Serve a local page showing one frame; click ROI polygons, set the point "
                    "spacing (the grid updates live) and save to a YAML ROI file. Prints the "
                    "URL; over SSH, forward the port: ssh -L PORT:localhost:PORT host.")
    d.add_argument("source", metavar="VIDEO_OR_IMAGE", help="video or image file")
    d.add_argument("-o", "--output", required=True, help="ROI file to write (YAML); an "
                   "existing file is loaded for editing")
    d.add_argument("--frame", type=int, default=0, help="frame index of a video (default 0)")
    d.add_argument("--port", type=int, default=8765,
                   help="port to listen on (default 8765; 0 = any free port)")
    d.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only)")
    d.add_argument("--spacing", type=int, default=DEFAULT_POINT_SPACING,
                   help=f"starting point spacing in px (default {DEFAULT_POINT_SPACING})")
    d.add_argument("--open", action="store_true", help="open the page in a local browser")
    d.set_defaults(func=run_draw)
    return p


def run_draw(args: argparse.Namespace) -> int:
    """Run ``rois draw`` until "Save and finish" or Ctrl+C. Returns the exit code.

    Bad input (missing file, frame out of range, busy port, unreadable ROI file) exits with
    a one-line message (``SystemExit``) before the server starts.
    """
    try:
        if args.spacing < 1:
            raise RoiError(f"--spacing must be >= 1, got {args.spacing}")
        image = load_frame(args.source, args.frame)
        is_image = Path(args.source).suffix.lower() in IMAGE_SUFFIXES | {".npy"}
        label = Path(args.source).name + ("" if is_image else f", frame {args.frame}")
        srv = RoiDrawingServer(image, args.output, point_spacing=args.spacing,
                               host=args.host, port=args.port, source=label)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"face-rhythm rois draw: {e}") from None
    srv.start()
    port = srv.httpd.server_address[1]
    _say(f"Draw ROIs for {label} ({image.shape[1]}x{image.shape[0]}) at {srv.url}")
    _say(f"  remote machine? run on your workstation: ssh -L {port}:localhost:{port} "
         "<this host>, then open the URL")
    _say(f"  'Save' writes {args.output}; 'Save and finish' (or Ctrl+C) stops the server")
    if args.open:
        webbrowser.open(srv.url)
    try:
        while not srv.wait(0.5):
            pass
    except KeyboardInterrupt:
        _say("stopped")
    finally:
        srv.stop()
    if srv.last_saved is None:
        _say(f"no ROIs saved; {args.output} unchanged")
        return 1
    _say(f"saved {len(srv.last_saved.polygons)} ROI(s), "
         f"{len(srv.last_saved.points())} points to {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m face_rhythm.roi_server rois draw ...`` (same as ``face-rhythm rois draw``)."""
    parser = argparse.ArgumentParser(prog="face-rhythm")
    add_rois_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
