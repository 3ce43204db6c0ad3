"""video_metadata: the check of a session's inputs -> results/{session}/videos.tsv."""

from face_rhythm.preflight import check_session
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
p = smk.params
check_session(smk.output.table, session=p.session, video_ids=p.video_ids, videos=p.videos,
              fps=p.fps, backend=p.backend, vqt=p.vqt, idx_start=p.idx_start, rois=p.rois,
              tracking=p.tracking, tca=p.tca)
