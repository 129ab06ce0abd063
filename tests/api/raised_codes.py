"""Which error codes a function can raise, read from the source (no code runs).

A call graph over the modules of core/, models/ and resolvers/, at function level: an edge
for every call or mention of a function or method that resolves through the module's
imports, and, for `obj.method(...)` on an object whose class is unknown, an edge to every
method of that name in these packages (over-approximating, never missing one). A function
can raise:
- every member of a code enum (`core.errors.Code` subclasses) it mentions, as
  `code=Ineligibility.COOLDOWN` or as a value it returns or passes on;
- the `default_code` of every `DomainError` class it calls without `code=`.
Over-approximation means a payload enum may be asked for a code its mutation cannot really
raise; a missed code would be worse (it fails at run time), so this errs on that side.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from core.errors import Code, DomainError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "models", "resolvers")

FunctionKey = tuple[str, str]  # (module, qualified name in the module)


@dataclass
class _Function:
    calls: set[FunctionKey] = field(default_factory=set)
    method_names: set[str] = field(default_factory=set)  # obj.name(...), obj unknown
    codes: set[Code] = field(default_factory=set)


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted path of what it names (a module, or `module.attribute`)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    names[alias.name.split(".")[0]] = alias.name.split(".")[0]
    return names


@functools.cache
def _resolve(dotted: str) -> object | None:
    """The object a dotted path names (a module, or attributes down from one), if any."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            if not (inspect.ismodule(found) or inspect.isclass(found)):
                return None  # an object's attribute: unknown without running it
            found = getattr(found, attribute, None)
            if found is None:
                return None
        return found
    return None


def _ours(target: object) -> bool:
    return str(getattr(target, "__module__", "")).split(".")[0] in PACKAGES


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, less the annotations (they name types; they run nothing)."""
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        for name, value in ast.iter_fields(current):
            if name in {"annotation", "returns"}:
                continue
            if isinstance(value, ast.AST):
                pending.append(value)
            elif isinstance(value, list):
                pending.extend(item for item in value if isinstance(item, ast.AST))


def _assigned(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets if isinstance(target, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
        return [node.target.id]
    return []


class CallGraph:
    def __init__(self) -> None:
        self.functions: dict[FunctionKey, _Function] = {}
        self.methods: dict[str, set[FunctionKey]] = {}  # method name -> its definitions
        for module, path in _modules():
            self._read(module, ast.parse(path.read_text(), str(path)))

    def _read(self, module: str, tree: ast.Module) -> None:
        imports = _imports(tree)
        local = {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        } | {name for node in tree.body for name in _assigned(node)}
        for node in tree.body:
            for name in _assigned(node):  # a table of codes or messages, say
                self._function(module, name, node, imports, local)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self._function(module, node.name, node, imports, local)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        qualname = f"{node.name}.{item.name}"
                        self._function(module, qualname, item, imports, local)
                        self.methods.setdefault(item.name, set()).add((module, qualname))

    def _dotted(self, node: ast.expr, module: str, imports: dict[str, str], local: set[str]):
        if isinstance(node, ast.Name):
            if node.id in local:
                return f"{module}.{node.id}"
            return imports.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value, module, imports, local)
            return f"{base}.{node.attr}" if base else None
        return None

    def _function(
        self,
        module: str,
        qualname: str,
        node: ast.AST,
        imports: dict[str, str],
        local: set[str],
    ) -> None:
        found = self.functions.setdefault((module, qualname), _Function())
        for child in _walk(node):
            if isinstance(child, ast.Name | ast.Attribute) and isinstance(child.ctx, ast.Load):
                dotted = self._dotted(child, module, imports, local)
                if dotted is not None:
                    self._mention(found, dotted)
            if isinstance(child, ast.Call):
                dotted = self._dotted(child.func, module, imports, local)
                target = _resolve(dotted) if dotted else None
                if target is None and isinstance(child.func, ast.Attribute):
                    found.method_names.add(child.func.attr)  # obj.name(...), obj unknown
                has_code = any(keyword.arg == "code" for keyword in child.keywords)
                if inspect.isclass(target) and issubclass(target, DomainError) and not has_code:
                    found.codes.add(target.default_code)

    def _mention(self, found: _Function, dotted: str) -> None:
        target = _resolve(dotted)
        module, _, name = dotted.rpartition(".")
        found.calls.add((module, name))  # a module-level table, if it is one
        if isinstance(target, Code):
            found.codes.add(target)
        elif inspect.isfunction(target) or inspect.ismethod(target):
            found.calls.add((target.__module__, target.__qualname__))
        elif inspect.isclass(target) and _ours(target) and not issubclass(target, Enum):
            # A class of ours: its methods may run (constructor, classmethods, properties).
            for name, member in vars(target).items():
                if inspect.isfunction(member) or isinstance(member, classmethod | property):
                    found.calls.add((target.__module__, f"{target.__qualname__}.{name}"))

    def codes(self, start: FunctionKey) -> set[Code]:
        """Every code `start` and what it reaches can raise."""
        seen: set[FunctionKey] = set()
        pending = [start]
        codes: set[Code] = set()
        while pending:
            key = pending.pop()
            if key in seen or key not in self.functions:
                continue
            seen.add(key)
            function = self.functions[key]
            codes |= function.codes
            pending.extend(function.calls)
            for name in function.method_names:
                pending.extend(self.methods.get(name, ()))
        return codes
