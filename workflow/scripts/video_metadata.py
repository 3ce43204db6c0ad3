"""video_metadata: a session's videos (paths or sftp:// URLs) -> results/{session}/videos.tsv."""

from face_rhythm.preflight import check_session_videos
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
p = smk.params
check_session_videos(smk.output.table, session=p.session, video_ids=p.video_ids,
                     videos=p.videos, fps=p.fps, backend=p.backend, vqt=p.vqt,
                     idx_start=p.idx_start)
