"""demo_video: config['demo'] (validated, defaults filled by the schema) -> a synthetic video."""

from face_rhythm.runlog import setup_logging
from face_rhythm.synthetic import default_face, write_video

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
write_video(default_face(**smk.params.demo), smk.output.video)
