"""Export one session to NWB (rule nwb_export)."""



import logging

from face_rhythm import nwb
from face_rhythm.provenance import run_info
from face_rhythm.runlog import setup_logging

setup_logging(snakemake.log[0])
log = logging.getLogger("face_rhythm.workflow.nwb_export")
cfg = dict(snakemake.params.outputs or {})
videos = list(snakemake.params.videos)
metadata = nwb.SessionMetadata.from_dict(cfg.get("nwb_metadata"))
inputs = [*snakemake.input.tracking, *snakemake.input.spectrograms, snakemake.input.rois,
          *snakemake.input.tca]
path = nwb.export_session_nwb(
    snakemake.output.nwb,
    session=snakemake.params.session,
    tracking=dict(zip(videos, snakemake.input.tracking)),
    spectrograms=dict(zip(videos, snakemake.input.spectrograms)),
    rois=snakemake.input.rois,
    tca=snakemake.input.tca[0] if snakemake.input.tca else None,
    video_paths=dict(zip(videos, snakemake.params.video_paths)),
    metadata=metadata,
    include_spectrograms=bool(cfg.get("nwb_spectrograms", False)),
    run_info=run_info(config={"outputs": cfg}, inputs=inputs),
)
problems = nwb.validate_nwb(path)
for p in problems:
    log.warning("%s: %s", path, p)
log.info("%s: %s", path, "valid (pynwb schema and nwbinspector)" if not problems
         else f"{len(problems)} validation problem(s), see above")
