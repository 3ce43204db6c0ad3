"""run_info_table: a session's HDF5 outputs -> run_info.tsv (one provenance row per file)."""

from face_rhythm.runlog import setup_logging
from face_rhythm.visualization import write_run_info_table

smk = snakemake  # injected by Snakemake
setup_logging(smk.log[0])
write_run_info_table(list(smk.input), smk.output.table)
