"""Shared pytest fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where the Snakefile is)."""
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips when a fresh clone has no such folder.

    CI (``.ci/run``) checks that the folder exists, so these tests never skip there.
    """
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (a fresh clone without ../shared)")
    return SHARED_DATA


#: Libraries a light job must not load (each costs 0.3-2 s of start-up and 30-200 MB).
HEAVY = ("matplotlib", "tensorly", "torch", "vqt")


@pytest.fixture(scope="session")
def heavy_imports():
    """``heavy_imports(code, extra=())``: run ``code`` in a fresh interpreter (it must
    succeed) and return the modules it left loaded of :data:`HEAVY` (any submodule) and of
    ``extra`` (exact module names, e.g. ``"scipy.spatial"``), sorted."""

    def run(code: str, extra: tuple[str, ...] = ()) -> list[str]:
        probe = (f"{code}\nimport sys\nprint(','.join(sorted(m for m in sys.modules if "
                 f"m.split('.')[0] in {HEAVY!r} or m in {tuple(extra)!r})))\n")
        proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        last = proc.stdout.strip().splitlines()[-1:] or [""]
        return [m for m in last[0].split(",") if m]

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With ``FACE_RHYTHM_NO_SKIP=1`` (set by ``.ci/run``), a skipped test is a failure.

    Skips exist for a user's machine without ../shared, sshd, Chromium or SLURM; CI installs
    all of them, so a skip there would hide a broken set-up or a broken test.
    """
    outcome = yield
    report = outcome.get_result()
    # CI has no GPU by design: a test marked `gpu` may skip there (it runs on a GPU machine)
    if report.skipped and os.environ.get("FACE_RHYTHM_NO_SKIP") == "1" \
            and not hasattr(report, "wasxfail") and "gpu" not in item.keywords:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (FACE_RHYTHM_NO_SKIP=1): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped at import (``pytest.importorskip`` at top level),
    which never reaches :func:`pytest_runtest_makereport`."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("FACE_RHYTHM_NO_SKIP") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} skipped in CI (FACE_RHYTHM_NO_SKIP=1): {reason}"
