"""Render one synthetic demo video (rule demo_video)."""

from face_rhythm.runlog import setup_logging
from face_rhythm.synthetic import default_face, write_video

setup_logging(snakemake.log[0])
p = snakemake.params.demo
face = default_face(
    height=p.get("height", 240),
    width=p.get("width", 320),
    frame_rate=p.get("frame_rate", 90.0),
    duration_s=p.get("duration_s", 12.0),
    noise_std=p.get("noise_std", 2.0),
    seed=p["seed"],
    noise_seed=p["noise_seed"],
    camera_shift=tuple(p["camera_shift"]),
    camera_rotation_deg=p["camera_rotation_deg"],
)
write_video(face, snakemake.output.video)
