"""Parse the original package's documented API (``../shared/spec/reference-api.txt``).

The spec is a plain-text rendering of Sphinx autodoc pages. The lines that matter:

- ``face_rhythm.X module``: a module header;
- ``class face_rhythm.X.Y(sig)[source]`` (or ``class face_rhythm.X.Y[source]``): a class;
- ``Bases: A, B``: the bases of the class just above;
- ``face_rhythm.X.f(sig) -> ret[source]``: a module-level function (ends the current class);
- ``name(sig) ret[source]`` / ``classmethod name(sig)[source]``: a method of the current class;
- ``name`` followed (two lines on) by ``Type:``: a documented attribute of the current class.

:func:`parse_spec` returns the entries; :func:`inherited_methods` adds, for each class whose
base is a documented class, the base's documented methods that the class does not document
itself (e.g. ``save_config`` of ``FR_Module`` on ``TCA``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_MODULE_RE = re.compile(r"^(face_rhythm(?:\.\w+)*) (?:module|package)$")
_CLASS_RE = re.compile(r"^class (face_rhythm(?:\.\w+)+?)\.(\w+)(\(.*\))?.*\[source\]$")
_FUNC_RE = re.compile(r"^(face_rhythm(?:\.\w+)+?)\.(\w+)(\(.*\)).*\[source\]$")
_METHOD_RE = re.compile(r"^(?:(classmethod|staticmethod|async) )?(\w+)(\(.*\)).*\[source\]$")
_BASES_RE = re.compile(r"^Bases: (.+)$")
_IDENT_RE = re.compile(r"^[A-Za-z_]\w*$")

_OPEN = {"(": ")", "[": "]", "{": "}", "<": ">"}


@dataclass(frozen=True)
class Param:
    """One documented parameter."""

    name: str
    kind: str  # "positional" (before any bare ``*``), "keyword" (after it), "varargs", "varkw"
    has_default: bool
    default: str | None = None  # the documented default, as text (e.g. "'continuous'")


@dataclass
class Entry:
    """One documented name."""

    kind: str  # "module", "class", "function", "method", "inherited"
    module: str  # the documented module, e.g. "face_rhythm.decomposition"
    qualname: str  # "TCA", "TCA.fit", "fit" (function); "" for a module
    params: list[Param] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    decorator: str | None = None  # "classmethod" / "staticmethod" for methods
    line: int = 0
    owner: str | None = None  # for "inherited": the documented class that defines it

    @property
    def path(self) -> str:
        """The documented dotted path, e.g. ``face_rhythm.decomposition.TCA.fit``."""
        return f"{self.module}.{self.qualname}" if self.qualname else self.module


def _scan(text: str, start: int = 0):
    """Walk ``text`` from ``start``: ``(index, chars, kind, depth)`` per character, ``kind``
    one of ``'quoted'`` (inside or delimiting a string), ``'open'``, ``'close'`` or ``'other'``;
    ``depth`` is the number of open brackets after that character."""
    stack: list[str] = []
    quote: str | None = None
    i = start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                yield i, text[i: i + 2], "quoted", len(stack)
                i += 2
                continue
            if c == quote:
                quote = None
            kind = "quoted"
        elif c in "'\"":
            quote, kind = c, "quoted"
        elif c in _OPEN and (c != "<" or text[i + 1: i + 2].isalpha()):
            stack.append(_OPEN[c])
            kind = "open"
        elif stack and c == stack[-1]:
            stack.pop()
            kind = "close"
        else:
            kind = "other"
        yield i, c, kind, len(stack)
        i += 1


def _matching_paren(text: str, start: int) -> int:
    """Index of the bracket closing the one at ``start``."""
    for i, _, kind, depth in _scan(text, start):
        if kind == "close" and depth == 0:
            return i
    raise ValueError(f"unbalanced signature: {text!r}")


def _split_top_level(text: str) -> list[str]:
    """Split ``text`` on commas that are not inside brackets or quotes."""
    parts, cur = [], []
    for _, c, kind, depth in _scan(text):
        if c == "," and kind == "other" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_signature(sig: str) -> list[Param]:
    """Parameters of a documented signature ``(a: int = 1, *args, b=2, **kw)``."""
    inner = sig[1:_matching_paren(sig, 0)]
    params: list[Param] = []
    kind = "positional"
    for part in _split_top_level(inner):
        if part == "*":
            kind = "keyword"
            continue
        if part == "/":
            continue
        if part.startswith("**"):
            params.append(Param(re.split(r"[:=]", part[2:])[0].strip(), "varkw", False))
            continue
        if part.startswith("*"):
            params.append(Param(re.split(r"[:=]", part[1:])[0].strip(), "varargs", False))
            kind = "keyword"
            continue
        name = re.split(r"[:=]", part, maxsplit=1)[0].strip()
        has_default = "=" in _split_annotation_default(part)
        default = _default_text(part) if has_default else None
        params.append(Param(name, kind, has_default, default))
    return params


def _default_text(part: str) -> str:
    """The text after the top-level ``=`` of ``name: ann = default``."""
    for i, c, kind, depth in _scan(part):
        if c == "=" and kind == "other" and depth == 0:
            return part[i + 1:].strip()
    return ""


def _split_annotation_default(part: str) -> str:
    """The characters of ``part`` outside brackets/quotes (to find a top-level ``=``)."""
    return "".join(c for _, c, kind, depth in _scan(part) if kind == "other" and depth == 0)


def _signature_text(line: str, name_end: int) -> str:
    """The ``(...)`` part of ``line`` starting at ``name_end``, or ``"()"``."""
    if name_end < len(line) and line[name_end] == "(":
        return line[name_end: _matching_paren(line, name_end) + 1]
    return "()"


def parse_spec(path: str | Path) -> list[Entry]:
    """All documented modules, classes, functions and methods of the spec, in order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    entries: list[Entry] = []
    module: str | None = None
    cls: Entry | None = None
    for n, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if m := _MODULE_RE.match(line):
            module, cls = m.group(1), None
            entries.append(Entry("module", module, "", line=n))
        elif m := _CLASS_RE.match(line):
            mod, name = m.group(1), m.group(2)
            start = len("class ") + len(mod) + 1 + len(name)
            cls = Entry("class", mod, name, parse_signature(_signature_text(line, start)), line=n)
            entries.append(cls)
        elif m := _FUNC_RE.match(line):
            mod, name = m.group(1), m.group(2)
            start = len(mod) + 1 + len(name)
            cls = None
            entries.append(Entry("function", mod, name,
                                 parse_signature(_signature_text(line, start)), line=n))
        elif (m := _METHOD_RE.match(line)) and cls is not None:
            deco, name = m.group(1), m.group(2)
            start = (len(deco) + 1 if deco else 0) + len(name)
            entries.append(Entry("method", cls.module, f"{cls.qualname}.{name}",
                                 parse_signature(_signature_text(line, start)),
                                 decorator=deco, line=n))
        elif (m := _BASES_RE.match(line)) and cls is not None and not cls.bases:
            cls.bases = [b.strip() for b in m.group(1).split(",")]
        elif (cls is not None and _IDENT_RE.match(line)
              and any(x.strip() == "Type:" for x in lines[n: n + 4])):
            cls.attributes.append(line)
    if module is None:
        raise ValueError(f"no module headers found in {path}")
    return entries


def inherited_methods(entries: list[Entry]) -> list[Entry]:
    """Documented methods that documented classes inherit from documented base classes."""
    classes = {e.qualname: e for e in entries if e.kind == "class"}
    methods: dict[str, list[Entry]] = {}
    for e in entries:
        if e.kind == "method":
            methods.setdefault(e.qualname.split(".")[0], []).append(e)
    out: list[Entry] = []
    for c in classes.values():
        own = {m.qualname.split(".", 1)[1] for m in methods.get(c.qualname, [])}
        seen = set(own)
        queue = [b.split(".")[-1] for b in c.bases]
        while queue:
            base = queue.pop(0)
            if base not in classes:
                continue
            for m in methods.get(base, []):
                short = m.qualname.split(".", 1)[1]
                if short in seen:
                    continue
                seen.add(short)
                out.append(Entry("inherited", c.module, f"{c.qualname}.{short}", m.params,
                                 decorator=m.decorator, line=m.line, owner=m.path))
            queue.extend(b.split(".")[-1] for b in classes[base].bases)
    return out
