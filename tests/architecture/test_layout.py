"""The architecture's rules, checked: import paths, cycles, thin scripts, file owners, errors.

``import_paths.json`` lists every name that was importable from each module path before the
library was split into packages (generated once, from the old modules); each must stay
importable from the same path.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "face_rhythm"
IMPORT_PATHS = json.loads((Path(__file__).with_name("import_paths.json")).read_text())

#: Modules allowed to open HDF5 files with raw h5py: the generic helpers, the result-file
#: rooms of the stage packages (``<package>/results.py``), the ROI file formats (the
#: original's ROIs.h5 is an input format).
H5_OWNERS = ("face_rhythm/atomic.py", "face_rhythm/h5_handling.py")
H5_OWNER_PATTERNS = (r"face_rhythm/[a-z_]+/results\.py", r"face_rhythm/rois/files\.py")

#: Upward edges allowed, each a lazy door at a path the original documents (imported on first
#: attribute access, after both packages are initialised), with the reason.
DOOR_EDGES: dict[tuple[str, str], str] = {
    ("face_rhythm.rois", "face_rhythm.registration"):
        "the original documents ROI_Alinger and Image_Aligner at face_rhythm.rois; they are "
        "built on registration's warps, ECC and optical flow",
}

#: Modules longer than 500 lines, each holding one concept only (and why it is long).
LONG_MODULES: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(path: Path) -> set[str]:
    """face_rhythm modules imported anywhere in ``path`` (top level or inside functions)."""
    name = _module_name(path)
    package = name if _is_package(path) else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("face_rhythm"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("face_rhythm"):
                continue
            out.add(mod)
            for a in node.names:  # "from . import video" imports the submodule
                if (PKG.parent / (mod + "." + a.name).replace(".", "/")).with_suffix(".py").exists() \
                        or (PKG.parent / (mod + "." + a.name).replace(".", "/") / "__init__.py").exists():
                    out.add(mod + "." + a.name)
    out.discard(name)
    return out


def _graph() -> dict[str, set[str]]:
    graph = {_module_name(p): _imports(p) for p in _modules()}
    # importing a.b.c runs a/__init__ and a/b/__init__ first
    for deps in graph.values():
        for d in list(deps):
            parts = d.split(".")
            deps.update(".".join(parts[:i]) for i in range(2, len(parts)))
    for (src, dst) in DOOR_EDGES:
        graph.get(src, set()).discard(dst)
    for mod, deps in graph.items():
        deps.discard(mod)
        # a package's own __init__ is imported before its submodules: not an edge of theirs
        deps.difference_update({p for p in deps if mod.startswith(p + ".")})
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if state.get(m) is None:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


@pytest.mark.parametrize("module", sorted(IMPORT_PATHS))
def test_every_name_importable_before_is_importable_from_the_same_path(module):
    mod = importlib.import_module(module)
    missing = [n for n in IMPORT_PATHS[module] if not hasattr(mod, n)]
    assert not missing, f"{module} no longer has {missing}"


def test_no_import_cycle_between_modules():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_concept_packages():
    """Packages form layers: if video imports rois, nothing in rois imports video."""
    top: dict[str, set[str]] = {}
    for mod, deps in _graph().items():
        a = ".".join(mod.split(".")[:2])
        top.setdefault(a, set()).update(".".join(d.split(".")[:2]) for d in deps)
    for a, deps in top.items():
        deps.discard(a)
        deps.discard("face_rhythm")
    cycle = _find_cycle(top)
    assert cycle is None, "package cycle: " + " -> ".join(cycle)


def test_every_workflow_script_is_at_most_30_lines():
    long = {p.name: n for p in (REPO / "workflow" / "scripts").glob("*.py")
            if (n := len(p.read_text().splitlines())) > 30}
    assert not long, f"workflow scripts over 30 lines: {long}"


def test_no_raw_h5py_outside_the_owners_of_result_files():
    offenders = []
    files = _modules() + sorted((REPO / "workflow").rglob("*.py")) \
        + sorted((REPO / "workflow").rglob("*.smk")) + [REPO / "Snakefile"]
    for p in files:
        rel = str(p.relative_to(REPO))
        if rel in H5_OWNERS or any(re.fullmatch(pat, rel) for pat in H5_OWNER_PATTERNS):
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if "h5py.File(" in line:
                offenders.append(f"{rel}:{i}")
    assert not offenders, f"raw h5py.File outside the result-file owners: {offenders}"


def test_every_error_class_is_a_face_rhythm_error():
    from face_rhythm.errors import FaceRhythmError

    bad = []
    for p in _modules():
        mod = importlib.import_module(_module_name(p))
        for name, obj in vars(mod).items():
            if (isinstance(obj, type) and issubclass(obj, BaseException)
                    and obj.__module__ == mod.__name__ and not name.startswith("_")
                    and not issubclass(obj, FaceRhythmError)):
                bad.append(f"{mod.__name__}.{name}")
    assert not bad, f"error classes outside the FaceRhythmError family: {bad}"


def test_no_bare_value_error_raised_in_the_library():
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in _modules()
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"raise ValueError\(", line)]
    assert not offenders, f"raise a FaceRhythmError subclass instead: {offenders}"


def test_modules_are_readable_in_one_sitting():
    long = {str(p.relative_to(REPO)): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > 500
            and str(p.relative_to(REPO)) not in LONG_MODULES}
    assert not long, f"modules over 500 lines (split them, or list them with a reason): {long}"
