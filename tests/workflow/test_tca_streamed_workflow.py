"""tca.strategy streamed in the workflow: the fan-out DAG, and the real rules on planted
spectrograms through bench/bench_tca_scale.py (congruence with the planted factors, memory)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import yaml
from test_workflow import TEST_CONFIG, job_counts, run_snakemake, write_videos_table

from face_rhythm.decomposition import read_tca_file

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_tca_scale",
                                                  REPO / "bench" / "bench_tca_scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_streamed_dag_fans_out_per_video_for_sessions_and_all_sessions(tmp_path):
    table = write_videos_table(tmp_path / "videos.tsv", sessions=2, videos=2)
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["videos"] = str(table)
    cfg["tca"].update(strategy="streamed", per_session=True, all_sessions=True)
    path = tmp_path / "streamed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", config=path)
    counts = job_counts(proc.stdout)
    assert counts["tca_fit"] == 3  # s1, s2, all_sessions
    assert counts["tca_time_factors"] == 8  # 2 x 2 for the sessions, 4 for all_sessions
    assert counts["tca_collect"] == 3
    assert "tca" not in counts and "tca_all_sessions" not in counts
    assert "results/all_sessions/tca_parts/s2/v1.h5" in proc.stdout


def test_streamed_rules_recover_planted_factors_in_bounded_memory(tmp_path):
    bench = _bench()
    # 2 sessions x 1 video of (2, 200, 12, 432) float32 (8.3 MB each); the fit samples 12%
    r = bench.run_benchmark(tmp_path, scale=0.02, sessions=2, videos=1, points=200, freqs=12,
                            rank=3, time_bins=100, n_iter=100, cores=2)
    assert r["congruence"] >= 0.95, r
    jobs = r["jobs"]
    assert sorted(jobs["rule"].value_counts().items()) == [
        ("tca_collect", 1), ("tca_fit", 1), ("tca_time_factors", 2)]
    # every job stays near an interpreter with the library imported (~300-500 MB), far
    # below the rules' requests; the fit holds the 10% sample, not the 17 MB tensor
    assert r["peak_rss_mb"] < 1500, jobs
    tca = read_tca_file(tmp_path / "results" / "all_sessions" / "tca.h5")
    assert tca.time_factors["s2"]["v1"].shape == (432, 3)
    assert tca.params["fit"]["sample_shape"] == [400, 12, 100]
    assert np.all(np.diff(tca.evr) <= 0) and 0 < tca.params["fit"]["relative_error"] < 0.2
    assert (tmp_path / "results" / "all_sessions" / "figures" / "tca" / "evr.png").is_file()
    # the fit's memory request comes from the sample (files' headers), not the recording:
    # 2000 MB + 5 x (400 x 12 x 100 x 4 bytes = 1.92 MB)
    proc = run_snakemake(tmp_path, "-n", "--forcerun", "tca_fit", "--cores", "2",
                         "--allowed-rules", *bench.TCA_RULES["streamed"], "--",
                         "results/all_sessions/tca.h5", config=tmp_path / "config.yaml")
    fit = proc.stdout.split("rule tca_fit:", 1)[1].split("\n\n", 1)[0]
    assert "mem_mb=2010," in fit, fit
