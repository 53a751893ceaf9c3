"""The import graph of ``teichaku`` keeps its layers (issue 13, "Imports that run the wrong way").

Every ``import`` and ``from ... import`` in every file of the package, including those inside
functions (an import inside a function still ties the two files together; it only hides the tie),
is resolved to the file it names, and the graph of files must have:

(a) no import cycle between files (two files in one strongly connected component);
(b) no arrow running up the layers (see ``LAYERS``; docs/DEVELOPING.md states the rule of each);
(c) no module importing another module's ``_private`` name (``from m import _x`` or ``m._x``);
(d) no import of a package module inside a function: the tie belongs at the top of the file,
    where the reader (and (a) and (b) at first sight) find it.

What is not fixed yet is listed in ``KNOWN_DEBT``, edge by edge, and in ``INNER_IMPORTS_LEFT``,
file by file.  The tests fail when a new offence appears AND when a listed one disappears, so the
lists can only shrink: delete the line when you fix it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "teichaku"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# Lower number = lower layer.  A file may import files of its own layer or below, never above.
# The first matching prefix (longest first) decides; see docs/DEVELOPING.md.
LAYERS: dict[str, int] = {
    "teichaku": 0,                 # the package's __init__ (a docstring)
    "teichaku.platform": 0,        # core: config, extensions, tenancy, audit, auth, storage, jobs plumbing
    "teichaku.tenants": 1,         # one center's domain
    "teichaku.crosstenant": 2,     # services across centers (the audited escape hatch)
    "teichaku.workers": 3,         # the job functions, their health report, the periodic schedule
    "teichaku.blueprints": 4,      # HTTP: pages and API (may read the jobs' health report)
    "teichaku.app": 5,             # composition: the app factory
    "teichaku.cli": 5,             # composition: CLI registration
    "teichaku.workers.context": 5,  # composition: the worker process's app
    "teichaku.workers.worker": 5,   # composition: the RQ worker class (builds the app)
    "teichaku.workers.scheduler": 5,  # composition: the scheduler process
    "teichaku.migrations": 5,      # Alembic scripts: nothing imports them
}
LAYER_NAMES = {0: "platform", 1: "tenants", 2: "crosstenant", 3: "workers", 4: "blueprints", 5: "composition"}

# Edges still offending, by kind: "importer -> imported" (module names without "teichaku.").
# Fix one, delete its line.  Never add one: move the code to the layer where it belongs instead.
KNOWN_DEBT: dict[str, set[str]] = {
    "cycle": set(),
    "upward": set(),
    "private": set(),
}

# Files that still import a package module inside a function, with the reason (module names
# without "teichaku.").  Fix one, delete its line.  Never add one: import at the top of the file
# (a cycle that this would open is (a)'s to report, and the code to move).  A lazily loaded
# third-party library (SudachiPy, openpyxl ...) is not counted: only the package's own modules.
INNER_IMPORTS_LEFT: dict[str, str] = {
    # Released migrations are not edited (issue 13 sets them aside); a new one imports at the top.
    "migrations.versions.cas3w0rk0001_case_work": "released migration",
    "migrations.versions.exch4nge0001_case_studies": "released migration",
    "migrations.versions.h4rden0002_signin_duties": "released migration",
    "migrations.versions.h4rden0004_publishing_gate": "released migration",
    "migrations.versions.r3tention001_retention": "released migration",
}


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    name: str | None = None  # the private name, for kind "private"


def module_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by the name of its ``__init__``)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(modules: dict[str, Path], name: str) -> bool:
    return modules[name].name == "__init__.py"


def _absolute(modules: dict[str, Path], importer: str, module: str | None, level: int) -> str:
    """The absolute dotted name of a (possibly relative) ``from`` import's module."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(modules, importer):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _resolve(modules: dict[str, Path], dotted: str) -> str | None:
    """The longest prefix of ``dotted`` that is a module of the package."""
    parts = dotted.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def edges_of(modules: dict[str, Path], importer: str) -> list[Edge]:
    """Every import of one file, resolved to package files, with private names used through it."""
    tree = ast.parse(modules[importer].read_text(encoding="utf-8"), filename=str(modules[importer]))
    edges: list[Edge] = []
    bound: dict[str, str] = {}  # local name -> module it names (for ``module._x`` access)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(modules, alias.name)
                if target is None:
                    continue
                edges.append(Edge(importer, target))
                if alias.asname:
                    bound[alias.asname] = target
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(modules, importer, node.module, node.level)
            if not base.startswith(PACKAGE):
                continue
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:  # ``from package import module``
                    target = f"{base}.{alias.name}"
                    edges.append(Edge(importer, target))
                    bound[alias.asname or alias.name] = target
                    continue
                target = _resolve(modules, base)
                if target is None:
                    continue
                edges.append(Edge(importer, target))
                if _private(alias.name) and target != importer:
                    edges.append(Edge(importer, target, alias.name))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in bound and _private(node.attr) and bound[node.value.id] != importer):
            edges.append(Edge(importer, bound[node.value.id], node.attr))
    return edges


def import_graph() -> tuple[dict[str, set[str]], set[Edge]]:
    """The file graph (importer -> imported files) and the private-name uses."""
    modules = module_files()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    private: set[Edge] = set()
    for name in modules:
        for edge in edges_of(modules, name):
            if edge.name:
                private.add(edge)
            elif edge.imported != name:
                graph[name].add(edge.imported)
    return graph, private


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components (iterative: the graph is deep enough to hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def layer_of(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module}: in no layer; add it to LAYERS")


def _short(module: str) -> str:
    return module[len(PACKAGE) + 1:] if module.startswith(PACKAGE + ".") else module


def offending_edges() -> dict[str, set[str]]:
    """Every offending edge of the current code, by kind (the shape of ``KNOWN_DEBT``)."""
    graph, private = import_graph()
    found: dict[str, set[str]] = {"cycle": set(), "upward": set(), "private": set()}
    for component in strongly_connected(graph):
        if len(component) > 1:
            for importer in component:
                for imported in graph[importer] & component:
                    found["cycle"].add(f"{_short(importer)} -> {_short(imported)}")
    for importer, targets in graph.items():
        for imported in targets:
            if layer_of(imported) > layer_of(importer):
                found["upward"].add(f"{_short(importer)} -> {_short(imported)}")
    for edge in private:
        found["private"].add(f"{_short(edge.importer)} -> {_short(edge.imported)}.{edge.name}")
    return found


def inner_imports_of(modules: dict[str, Path], importer: str) -> set[str]:
    """The package modules one file imports inside a function (a method or a nested one too)."""
    tree = ast.parse(modules[importer].read_text(encoding="utf-8"), filename=str(modules[importer]))
    found: set[str] = set()
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                dotted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(modules, importer, node.module, node.level)
                dotted = [f"{base}.{alias.name}" for alias in node.names] if base.startswith(PACKAGE) else []
            else:
                continue
            for name in dotted:
                target = _resolve(modules, name)
                if target is not None:
                    found.add(target)
    return found


def files_with_inner_imports() -> set[str]:
    """Every file of the package with a package import inside a function (the shape of
    ``INNER_IMPORTS_LEFT``'s keys)."""
    modules = module_files()
    return {_short(name) for name in modules if inner_imports_of(modules, name)}


def _compare(kind: str) -> None:
    found = offending_edges()[kind]
    new = sorted(found - KNOWN_DEBT[kind])
    fixed = sorted(KNOWN_DEBT[kind] - found)
    assert not new, f"new {kind} import(s), not allowed (see docs/DEVELOPING.md):\n  " + "\n  ".join(new)
    assert not fixed, f"fixed {kind} import(s): delete from KNOWN_DEBT[{kind!r}]:\n  " + "\n  ".join(fixed)


def test_no_new_import_cycle_between_files():
    _compare("cycle")


def test_no_import_runs_up_the_layers():
    _compare("upward")


def test_no_module_imports_another_modules_private_name():
    _compare("private")


def test_every_module_is_in_a_layer():
    for module in module_files():
        layer_of(module)


def test_no_import_of_a_package_module_inside_a_function():
    found = files_with_inner_imports()
    new = sorted(found - set(INNER_IMPORTS_LEFT))
    fixed = sorted(set(INNER_IMPORTS_LEFT) - found)
    assert not new, "import(s) of teichaku modules inside a function, not allowed (import at the top):\n  " + "\n  ".join(new)
    assert not fixed, "no import inside a function left: delete from INNER_IMPORTS_LEFT:\n  " + "\n  ".join(fixed)


# The walker itself: each check must see what it claims to see.

def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in {"__init__.py": "", "low/__init__.py": "", **files}.items():
        (tmp_path / PACKAGE / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / PACKAGE / name).write_text(text, encoding="utf-8")
    return module_files(tmp_path / PACKAGE)


def test_walker_sees_imports_inside_functions_relative_ones_and_private_names(tmp_path):
    modules = _package(tmp_path, {
        "low/a.py": "def _x(): pass\ndef y(): pass\n",
        "low/b.py": "from .a import y\ndef f():\n    from . import a\n    return a._x()\n",
        "low/c.py": "import teichaku.low.a as alias\nfrom teichaku.low.a import _x\n",
    })
    b = edges_of(modules, "teichaku.low.b")
    c = edges_of(modules, "teichaku.low.c")
    assert {e.imported for e in b if not e.name} == {"teichaku.low.a"}
    assert [(e.imported, e.name) for e in b if e.name] == [("teichaku.low.a", "_x")]  # a._x inside f
    assert {(e.imported, e.name) for e in c} == {("teichaku.low.a", None), ("teichaku.low.a", "_x")}


def test_walker_finds_package_imports_inside_functions_and_methods_only(tmp_path):
    modules = _package(tmp_path, {
        "low/a.py": "import json\ndef y(): pass\n",
        "low/b.py": "from .a import y\ndef f():\n    import json\n    return y()\n",
        "low/c.py": "class K:\n    def m(self):\n        from . import a\n        return a\n",
        "low/d.py": "def f():\n    def g():\n        from teichaku.low.a import y\n        return y\n    return g\n",
    })
    assert inner_imports_of(modules, "teichaku.low.a") == set()
    assert inner_imports_of(modules, "teichaku.low.b") == set()  # a top-level one and the standard library
    assert inner_imports_of(modules, "teichaku.low.c") == {"teichaku.low.a"}  # in a method
    assert inner_imports_of(modules, "teichaku.low.d") == {"teichaku.low.a"}  # in a nested function


def test_tarjan_finds_a_cycle_and_only_it():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    components = [c for c in strongly_connected(graph) if len(c) > 1]
    assert components == [{"a", "b", "c"}]


if __name__ == "__main__":  # print the current offending edges, to write KNOWN_DEBT
    for kind, edges in offending_edges().items():
        if not edges:
            print(f'    "{kind}": set(),')
            continue
        print(f'    "{kind}": {{')
        for edge in sorted(edges):
            print(f'        "{edge}",')
        print("    },")


# The three places where a lower layer reaches up through a name the composition gives it
# (instead of an import): each refuses when it was not given one, never running unaudited,
# without an app or dropping an announcement.

def test_cross_tenant_without_an_audit_writer_refuses_before_opening_anything(app, monkeypatch):
    import pytest
    from flask import g

    from teichaku.platform import tenancy

    monkeypatch.setattr(tenancy, "_audit_writer", None)
    with app.test_request_context():
        with pytest.raises(RuntimeError, match="audit writer"):
            with tenancy.cross_tenant("test.unaudited"):
                pass  # pragma: no cover - never reached
        assert getattr(g, "cross_tenant_purpose", None) is None


def test_the_app_factory_names_the_audit_writer_of_cross_tenant(app):
    from teichaku.platform import tenancy
    from teichaku.platform.audit.services import record

    assert tenancy._audit_writer is record
    assert app.extensions["teichaku_app_factory"].__module__ == "teichaku.app"


def test_a_job_outside_an_app_without_a_named_factory_refuses(monkeypatch):
    import pytest

    from teichaku.platform import jobs

    monkeypatch.setattr(jobs, "_app_factory", None)
    monkeypatch.setattr(jobs, "_app", None)
    with pytest.raises(RuntimeError, match="TeichakuWorker"):
        jobs.job(lambda: None)()


def test_an_announcement_without_a_named_outbox_writer_refuses(monkeypatch):
    import pytest

    from teichaku.platform import announcements

    monkeypatch.setattr(announcements, "_announcer", None)
    with pytest.raises(RuntimeError, match="outbox writer"):
        announcements.announce("center_admin_added", to_association=True)


def test_the_app_factory_names_the_outbox_writer_of_the_account_duties(app):
    from teichaku.crosstenant.notifications.services import emit
    from teichaku.platform import announcements

    assert announcements._announcer is emit
