"""tca_collect: fit.h5 + every video's time factors -> tca.h5 and figures/tca/*.png."""

from face_rhythm.decomposition import tca_collect_stage
from face_rhythm.runlog import setup_logging

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
tca_collect_stage(smk.input.fit, smk.input.time_factors, smk.output.tca, smk.output.figures,
                  smk.params.tca, session=smk.params.session, rois=smk.input.rois)
