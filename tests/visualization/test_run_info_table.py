"""The run-info table and ``face-rhythm info``: provenance read back from output files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from face_rhythm.cli import main
from face_rhythm.h5_handling import read_file_run_info, simple_save
from face_rhythm.provenance import run_info, run_info_to_h5_dict
from face_rhythm.visualization import run_info_table, write_run_info_table


@pytest.fixture
def outputs(tmp_path):
    (tmp_path / "v.avi").write_bytes(b"12345")
    info = run_info({"tracking": {"k": 1}}, inputs=[tmp_path / "v.avi"])
    with_info = simple_save({"x": np.arange(3), "run_info": run_info_to_h5_dict(info)},
                            tmp_path / "a.h5")
    without = simple_save({"x": np.arange(3)}, tmp_path / "b.h5")
    return info, str(with_info), str(without)


def test_read_file_run_info_round_trip(outputs):
    info, with_info, without = outputs
    assert read_file_run_info(with_info) == info
    assert read_file_run_info(without) is None


def test_run_info_table_rows_and_tsv(outputs, tmp_path):
    info, with_info, without = outputs
    table = run_info_table([with_info, without])
    assert list(table["file"]) == [with_info, without]
    row, empty = table.iloc[0], table.iloc[1]
    assert row["face_rhythm"] == info["face_rhythm_version"]
    assert row["numpy"] == np.__version__ and row["created_utc"] == info["timestamp_utc"]
    assert row["config"] == '{"tracking": {"k": 1}}'
    assert row["inputs"] == f"{tmp_path / 'v.avi'} (5 B)"
    assert empty["face_rhythm"] == "?" and empty["config"] == "{}"
    out = write_run_info_table([with_info, without], tmp_path / "run_info.tsv")
    back = pd.read_csv(out, sep="\t")
    assert list(back.columns) == list(table.columns) and len(back) == 2
    assert [p.name for p in tmp_path.glob(".run_info*")] == []  # written atomically


def test_cli_info_prints_tree_and_provenance(outputs, tmp_path, capsys):
    info, with_info, without = outputs
    assert main(["info", with_info]) == 0
    out = capsys.readouterr().out
    assert "x: shape=(3,)" in out and "provenance (run_info):" in out
    assert info["timestamp_utc"] in out
    assert main(["info", without]) == 0
    assert "no run_info in this file" in capsys.readouterr().out
    (tmp_path / "c.h5").write_text("not hdf5")
    with pytest.raises(SystemExit, match="not a readable HDF5 file"):
        main(["info", str(tmp_path / "c.h5")])
    with pytest.raises(SystemExit, match="no such file"):
        main(["info", str(tmp_path / "missing.h5")])
