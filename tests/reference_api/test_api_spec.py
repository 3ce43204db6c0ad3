"""Every name the original package documents exists at its path with its documented signature.

The spec is ``../shared/spec/reference-api.txt`` (Sphinx autodoc rendered as text; parsed by
``spec_parse.py``). For each documented module, class, function, method and inherited method
(a documented base's method that a documented subclass does not re-document, e.g.
``TCA.save_config`` from ``FR_Module``), one test id checks:

- it exists at its documented dotted path (a class is a class, the rest are callable);
- every documented parameter is a named parameter of ``inspect.signature`` (one reachable only
  through ``**kwargs`` does not count; a documented ``*args``/``**kwargs`` needs one);
- the documented positional parameters come first, in the documented order, so a positional
  call written for the original binds the same way;
- a documented parameter with a default has a default here, and no parameter the spec does
  not document is required (either would break a call written for the original);
- a documented ``classmethod`` can be called on the class.

Documented bases that are themselves documented classes (``FR_Module``,
``ImageRegistrationMethod``, ``Saver_Viz_Base``) are checked with ``issubclass``. Documented
submodules must be attributes of ``import face_rhythm as fr`` in a fresh interpreter.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spec_parse

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / ".." / "shared").resolve()
SPEC = SHARED / "spec" / "reference-api.txt"

if SPEC.is_file():
    ENTRIES = spec_parse.parse_spec(SPEC)
    INHERITED = spec_parse.inherited_methods(ENTRIES)
else:  # collected without ../shared: one placeholder per test that the fixture skips
    ENTRIES, INHERITED = [], []

_CLASSES = {e.qualname: e for e in ENTRIES if e.kind == "class"}
_MODULES = [e for e in ENTRIES if e.kind == "module"]
_CALLABLES = [e for e in ENTRIES if e.kind in ("class", "function", "method")] + INHERITED
_BASES = [(c, b) for c in _CLASSES.values() for b in c.bases if b.split(".")[-1] in _CLASSES]


def _ids(entries):
    return [f"{e.kind}:{e.path}" for e in entries] or ["no-spec"]


@pytest.fixture(scope="session")
def spec_file() -> Path:
    """The spec; skips only when ``../shared`` is absent (a fresh clone)."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared not found at {SHARED} (a fresh clone without ../shared)")
    assert SPEC.is_file(), f"{SPEC} is missing although {SHARED} exists"
    return SPEC


def _resolve(path: str):
    """Import the longest module prefix of ``path`` and getattr the rest."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError as err:
            if err.name and not ".".join(parts[:i]).startswith(err.name):
                raise  # a real missing dependency inside the module
            continue
        for j, attr in enumerate(parts[i:], start=i):
            if not hasattr(obj, attr):
                raise AttributeError(f"{'.'.join(parts[:j])} has no attribute {attr!r}")
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(path)


def _signature(entry):
    """(the object, its parameters as documented callers see them: no self/cls)."""
    if entry.kind in ("method", "inherited"):
        cls_path, name = entry.path.rsplit(".", 1)
        cls = _resolve(cls_path)
        try:
            raw = inspect.getattr_static(cls, name)
        except AttributeError:
            raise AttributeError(f"{cls_path} has no attribute {name!r}") from None
        if isinstance(raw, property):
            pytest.fail(f"{entry.path} is documented as a method but is a property")
        if entry.decorator in ("classmethod", "staticmethod"):
            assert isinstance(raw, (classmethod, staticmethod)), \
                f"{entry.path} is documented as a {entry.decorator} (callable on the class)"
        bound = getattr(cls, name)
        params = list(inspect.signature(bound).parameters.values())
        if not isinstance(raw, (classmethod, staticmethod)) and params:
            params = params[1:]  # self
        return bound, params
    obj = _resolve(entry.path)
    if entry.kind == "class":
        assert inspect.isclass(obj), f"{entry.path} is documented as a class, is {type(obj)}"
    else:
        assert callable(obj), f"{entry.path} is documented as a function, is {type(obj)}"
    return obj, list(inspect.signature(obj).parameters.values())


def signature_problems(entry) -> list[str]:
    """What keeps a call written for the original from binding; empty when none."""
    _, params = _signature(entry)
    P = inspect.Parameter
    by_name = {p.name: p for p in params}
    problems = []
    for d in entry.params:
        if d.kind == "varargs":
            if not any(p.kind == P.VAR_POSITIONAL for p in params):
                problems.append(f"documented *{d.name} but no *args here")
            continue
        if d.kind == "varkw":
            if not any(p.kind == P.VAR_KEYWORD for p in params):
                problems.append(f"documented **{d.name} but no **kwargs here")
            continue
        p = by_name.get(d.name)
        if p is None or p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            problems.append(f"missing parameter {d.name!r}")
        elif p.kind == P.POSITIONAL_ONLY:
            problems.append(f"{d.name!r} is positional-only here")
        elif d.kind == "positional" and p.kind == P.KEYWORD_ONLY:
            problems.append(f"{d.name!r} is keyword-only here, positional in the spec")
        elif d.has_default and p.default is P.empty:
            problems.append(f"{d.name!r} has a default in the spec, is required here")
    documented = [d.name for d in entry.params if d.kind == "positional"]
    actual = [p.name for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    if not problems and actual[: len(documented)] != documented:
        i = next(i for i, (a, d) in enumerate(zip(actual, documented)) if a != d)
        problems.append(f"positional parameter {i} is {actual[i]!r} here, {documented[i]!r} "
                        f"in the spec (documented order: {', '.join(documented[i:])})")
    names = {d.name for d in entry.params}
    for p in params:
        if p.name not in names and p.default is P.empty \
                and p.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            problems.append(f"undocumented required parameter {p.name!r}")
    return problems


@pytest.mark.parametrize("entry", _CALLABLES or [None], ids=_ids(_CALLABLES))
def test_documented_name_and_signature(spec_file, entry):
    """The name exists at its documented path and accepts its documented parameters."""
    problems = signature_problems(entry)
    where = f" (inherited from {entry.owner})" if entry.owner else ""
    assert not problems, f"{entry.path}{where} (spec line {entry.line}): " + "; ".join(problems)


@pytest.mark.parametrize("pair", _BASES or [None],
                         ids=[f"bases:{c.path}({b})" for c, b in _BASES] or ["no-spec"])
def test_documented_base_class(spec_file, pair):
    """A class documented with a documented base (e.g. ``FR_Module``) subclasses it."""
    cls_entry, base_name = pair
    base = _resolve(_CLASSES[base_name.split(".")[-1]].path)
    cls = _resolve(cls_entry.path)
    assert issubclass(cls, base), f"{cls_entry.path} does not subclass {base.__module__}." \
                                  f"{base.__qualname__} (spec: Bases: {base_name})"


@pytest.fixture(scope="module")
def fr_attributes(spec_file):
    """Which documented submodules ``import face_rhythm as fr`` exposes, in a fresh process."""
    subs = [m.path.split(".", 1)[1] for m in _MODULES if "." in m.path]
    code = ("import json, face_rhythm as fr\nout = {}\n"
            f"for s in {subs!r}:\n"
            "    try:\n        getattr(fr, s); out[s] = ''\n"
            "    except Exception as e:\n        out[s] = f'{type(e).__name__}: {e}'\n"
            "print(json.dumps(out))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("entry", _MODULES or [None], ids=_ids(_MODULES))
def test_documented_module(spec_file, fr_attributes, entry):
    """The module imports, and ``import face_rhythm as fr`` gives it as ``fr.<name>``."""
    importlib.import_module(entry.path)
    if "." in entry.path:
        sub = entry.path.split(".", 1)[1]
        assert fr_attributes[sub] == "", f"fr.{sub} after `import face_rhythm as fr`: " \
                                         f"{fr_attributes[sub]}"


def test_spec_counts_match_the_issue(spec_file):
    """The parser finds the issue's 192 names: 85 functions, 32 classes, 56 methods and 19
    inherited methods (and the 13 documented modules plus the package)."""
    counts = {k: sum(e.kind == k for e in ENTRIES + INHERITED)
              for k in ("function", "class", "method", "inherited", "module")}
    assert counts == {"function": 85, "class": 32, "method": 56, "inherited": 19,
                      "module": 14}, counts


# ------------------------------------------------------- the checker itself (no spec needed)


def _ok(a, b=1, *, c=None):
    """Matches the documented ``(a, b=1)``; an extra keyword-only parameter is fine."""


def _kwargs_only(a, **kwargs):
    """Accepts ``b`` only through ``**kwargs``."""


def _swapped(b=1, a=None):
    """Positional order swapped."""


def _required_extra(a, b=1, extra=None, *, must):
    """An undocumented required parameter."""


def _keyword_only(*, a, b=1):
    """Documented positional parameters made keyword-only."""


@pytest.mark.parametrize(("func", "expected"), [
    (_ok, []),
    (_kwargs_only, ["missing parameter 'b'"]),
    (_swapped, ["positional parameter 0 is 'b' here, 'a' in the spec"]),
    (_required_extra, ["undocumented required parameter 'must'"]),
    (_keyword_only, ["'a' is keyword-only here", "'b' is keyword-only here"]),
])
def test_signature_checker_known_answers(func, expected):
    """The checker flags exactly the documented-call breakers it claims to."""
    entry = spec_parse.Entry("function", __name__, func.__name__,
                             spec_parse.parse_signature("(a, b=1)"))
    problems = signature_problems(entry)
    assert len(problems) == len(expected), problems
    for p, e in zip(problems, expected):
        assert p.startswith(e), (p, e)


def test_signature_parser_handles_the_specs_default_texts():
    """Commas, brackets, quotes and ``<class ...>`` reprs inside defaults stay in one
    parameter; ``*args``/``**kw`` and a bare ``*`` are recognised."""
    sig = ("(params: dict = {'a': (1, 2), 'b': '[x, y)'}, loader: object = "
           "<class 'yaml.loader.FullLoader'>, interp: int = <MagicMock id='1'>, "
           "x: int | None = None, *args: Any, k=[1, 2], **kwargs_zip: Dict[str, Any]) "
           "Any[source]")
    params = spec_parse.parse_signature(sig)
    assert [(p.name, p.kind, p.has_default) for p in params] == [
        ("params", "positional", True), ("loader", "positional", True),
        ("interp", "positional", True), ("x", "positional", True),
        ("args", "varargs", False), ("k", "keyword", True), ("kwargs_zip", "varkw", False)]
    assert params[0].default == "{'a': (1, 2), 'b': '[x, y)'}"
    assert [p.kind for p in spec_parse.parse_signature("(a, *, b=2)")] == ["positional",
                                                                          "keyword"]
