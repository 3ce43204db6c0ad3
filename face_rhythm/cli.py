"""The ``face-rhythm`` command line.

Subcommands
-----------
``face-rhythm info FILE.h5``
    Print an output file's tree of datasets and its provenance (``run_info``).
``face-rhythm rois draw VIDEO_OR_IMAGE -o rois.yaml``
    Draw ROIs in the browser (see :mod:`face_rhythm.rois.server`).
``face-rhythm synth OUT.avi``
    Write a synthetic face video with known motion.
``face-rhythm version``
    Print the versions of face-rhythm and its numerical stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .h5_handling import item_tree, read_file_run_info
from .provenance import package_versions
from .rois.server import add_rois_parser
from .runlog import setup_logging
from .synthetic import default_face, write_video

__all__ = ["build_parser", "main"]


def _cmd_info(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise SystemExit(f"face-rhythm info: {path}: no such file")
    try:
        tree = item_tree(path=path, depth=args.depth, show_metadata=False)
        info = read_file_run_info(path)
    except OSError as e:
        raise SystemExit(f"face-rhythm info: {path}: not a readable HDF5 file ({e})") from None
    sys.stdout.write(f"{path}\n")
    sys.stdout.write(tree + "\n")
    if info:
        sys.stdout.write("\nprovenance (run_info):\n")
        sys.stdout.write(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    else:
        sys.stdout.write("\nno run_info in this file\n")
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    for k, v in package_versions().items():
        sys.stdout.write(f"{k}: {v}\n")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    face = default_face(height=args.height, width=args.width, frame_rate=args.fps,
                        duration_s=args.duration, seed=args.seed)
    write_video(face, args.output)
    sys.stdout.write(f"wrote {args.output}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="face-rhythm", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"face-rhythm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="print an output file's tree and provenance")
    p.add_argument("file")
    p.add_argument("--depth", type=int, default=None, help="maximum depth of the tree")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("version", help="print versions of face-rhythm and its dependencies")
    p.set_defaults(func=_cmd_version)

    p = sub.add_parser("synth", help="write a synthetic face video with known motion")
    p.add_argument("output")
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--fps", type=float, default=90.0)
    p.add_argument("--duration", type=float, default=5.0, help="seconds")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)

    add_rois_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(None, level=logging.DEBUG if args.verbose else logging.INFO)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
