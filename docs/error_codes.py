"""The error codes page, read from the code itself each time the site is built (docs/hooks.py), so it cannot
go stale: every ``code`` didlib raises (the :mod:`didlib.errors` classes and ``code=`` arguments) or
reports (the verifiers' :class:`~didlib.verification.Problem` and verdict codes, OpenID4VCI errors).

A static read of the source (``ast``), not an import: it sees codes on paths no test takes. A code made at run
time from a pattern (``f"status_{state}"``) is listed with ``*`` in place of the variable part.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "didlib"
# Calls whose first positional argument is a code: a problem in a result, a protocol error of OpenID4VCI.
CODE_FIRST = {"Problem", "OID4VCIError"}
# Keyword arguments that carry a code, and the calls whose (last) list argument holds verdict codes.
CODE_KEYWORDS = {"code"}
VERDICT = "Verdict"
# The dictionary of what a till shows staff for a code (didlib.verifier.policies): quoted first, in its words.
PLAIN = "PLAIN"
LINKED = {"didlib.errors", "didlib.oid4vci"}  # modules whose classes the API reference documents
_CODE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*|[a-z][a-z0-9_]*\*[a-z0-9_*]*")


@dataclass
class Code:
    """One code: the exception classes that carry it by default, what it says, and where it is made."""

    code: str
    classes: list[str] = field(default_factory=list)
    meanings: list[str] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    plain: str | None = None  # what a till shows staff


def _text(node: ast.expr) -> str | None:
    """A message argument as text; the variable parts of an f-string as ``…``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return None


def _codes_in(node: ast.expr) -> Iterator[str]:
    """The codes an expression can give: constants, both arms of a conditional, an f-string as a pattern."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _codes_in(node.body)
        yield from _codes_in(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _codes_in(value)
    elif isinstance(node, ast.JoinedStr):
        yield "".join(v.value if isinstance(v, ast.Constant) else "*" for v in node.values)  # type: ignore[misc]


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def scan(package: Path = PACKAGE) -> dict[str, Code]:
    """Every code in the package's source, by code."""
    found: dict[str, Code] = {}
    errors = {n.name for n in ast.parse((package / "errors.py").read_text()).body if isinstance(n, ast.ClassDef)}

    def add(code: str, module: str, meaning: str | None = None, cls: str | None = None) -> None:
        if not _CODE.fullmatch(code):
            return
        entry = found.setdefault(code, Code(code))
        entry.modules.add(module)
        if cls and cls not in entry.classes:
            entry.classes.append(cls)
        if meaning and meaning not in entry.meanings:
            entry.meanings.append(meaning)

    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "code"
                                                             for t in stmt.targets)):
                        for code in _codes_in(stmt.value):
                            add(code, module, ast.get_docstring(node), f"{module}.{node.name}")
            elif (isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict)
                  and any(isinstance(t, ast.Name) and t.id == PLAIN
                          for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))):
                for key, value in zip(node.value.keys, node.value.values, strict=True):
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        add(key.value, module)
                        if _CODE.fullmatch(key.value):
                            found[key.value].plain = _text(value)
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "code"
                                                      for t in node.targets):
                for code in _codes_in(node.value):  # code = "a" if ... else "b"; raise ...(code=code)
                    add(code, module)
            elif isinstance(node, ast.Call):
                message = _text(node.args[0]) if node.args else None
                name = _name(node.func)
                raised = f"didlib.errors.{name}" if name in errors else None
                for keyword in node.keywords:
                    if keyword.arg in CODE_KEYWORDS:
                        for code in _codes_in(keyword.value):
                            add(code, module, message, raised)
                if name in CODE_FIRST and node.args:
                    second = _text(node.args[1]) if len(node.args) > 1 else None
                    for code in _codes_in(node.args[0]):
                        add(code, module, second)
                elif name == VERDICT and len(node.args) >= 4 and isinstance(node.args[3], ast.List):
                    reason = _text(node.args[2].elts[0]) if isinstance(node.args[2], ast.List) and node.args[2].elts \
                        else None
                    for element in node.args[3].elts:
                        for code in _codes_in(element):
                            add(code, module, reason)
                elif (isinstance(node.func, ast.Attribute) and node.func.attr == "append"
                      and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "codes"):
                    for code in _codes_in(node.args[0]):
                        add(code, module)
    return found


def _class(path: str) -> str:
    """A link into the API reference for the classes of :mod:`didlib.errors`, the name alone for others."""
    module, name = path.rsplit(".", 1)
    return f"[`{name}`][{path}]" if module in LINKED else f"`{name}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown(codes: dict[str, Code] | None = None) -> str:
    """The table: one row a code, sorted; patterns (``status_*``) are matched by the codes they make."""
    codes = scan() if codes is None else codes
    rows = ["| code | raised as | what it means (*a till's words*; the messages) | from |", "|---|---|---|---|"]
    for code in sorted(codes.values(), key=lambda c: c.code):
        classes = ", ".join(_class(c) for c in code.classes)
        meanings = "; ".join(_cell(m) for m in code.meanings[:3])
        if code.plain:  # the till's words first
            meanings = f"*{_cell(code.plain)}*" + (f"; {meanings}" if meanings else "")
        modules = ", ".join(f"`{m}`" for m in sorted(code.modules))
        rows.append(f"| `{code.code}` | {classes} | {meanings} | {modules} |")
    return "\n".join(rows) + "\n"
