"""One table of the provenance of a session's HDF5 outputs (rule run_info_table)."""



import json

import h5py
import pandas as pd

from face_rhythm.h5_handling import atomic_path
from face_rhythm.provenance import read_run_info
from face_rhythm.runlog import setup_logging

setup_logging(snakemake.log[0])
rows = []
for path in snakemake.input:
    with h5py.File(path, "r") as f:
        info = read_run_info(f["run_info"]) if "run_info" in f else {}
    versions = info.get("versions", {})
    rows.append({
        "file": path,
        "face_rhythm": info.get("face_rhythm_version", "?"),
        "created_utc": info.get("timestamp_utc", "?"),
        **{k: versions.get(k, "?") for k in ("numpy", "torch", "opencv-python-headless",
                                              "decord2", "vqt", "tensorly", "python")},
        "config": json.dumps(info.get("config", {}), sort_keys=True),
        "inputs": "; ".join(f"{i.get('path')} ({i.get('size_bytes', '?')} B)"
                            for i in info.get("inputs", [])),
    })
with atomic_path(snakemake.output.table) as tmp:
    pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)
