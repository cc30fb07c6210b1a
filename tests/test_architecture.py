"""The layering of docs/design.md, checked on the source: blueprints share only the domain layer."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "webapp"
BLUEPRINTS = ("gaps", "api", "audit", "admin", "embed", "auth", "queue", "health")


def _module_name(path: Path) -> str:
    parts = ["webapp", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str, path: Path, top_level_only: bool):
    """(imported module, line) for every import of a webapp module in ``path``."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                target = candidate if candidate in MODULES else origin
                if target in MODULES:
                    yield target, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, node.lineno


def _owner(module: str) -> str | None:
    """The blueprint package a module belongs to, or None for shared code."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in BLUEPRINTS else None


def test_no_blueprint_imports_another_and_the_domain_imports_none():
    wrong = []
    for name, path in MODULES.items():
        mine = _owner(name)
        in_domain = name.startswith("webapp.domain")
        if mine is None and not in_domain:
            continue  # the factory, the CLI and shared rendering may use any blueprint
        for target, line in _imports(name, path, top_level_only=False):
            theirs = _owner(target)
            if theirs is not None and theirs != mine:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target}")
    assert wrong == []


def test_no_import_cycles():
    graph = {}
    for name, path in MODULES.items():
        # A package importing its own submodules at its end (the blueprint pattern) and a
        # submodule importing its package are one unit, not a cycle.
        graph[name] = {
            t
            for t, _ in _imports(name, path, top_level_only=True)
            if not t.startswith(name + ".") and not name.startswith(t + ".")
        }
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        seen[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if seen.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt) :] + [nxt]))
            if nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name)


def test_imports_inside_functions_say_why():
    silent = []
    for path in MODULES.values():
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    here = lines[node.lineno - 1]
                    above = lines[node.lineno - 2].strip()
                    if "#" not in here and not above.startswith("#"):
                        silent.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert silent == []


# What the domain (webapp/domain) must never import: the engine, the views (blueprints and the
# page modules beside them), the sign-in machinery (the actor comes in as a parameter) and HTTP
# errors (the domain raises webapp/domain/errors.py; webapp/errors.py maps them).
DOMAIN_MAY_NOT_IMPORT = (
    "webapp.anr",
    "webapp.errors",
    "werkzeug.exceptions",
    *(f"webapp.{b}" for b in (*BLUEPRINTS, "queue", "health")),
    "webapp.pages",
    "webapp.cli",
    "webapp.devtools",
    "webapp.plumbing",
    "flask_login",
)
# (module, imported module) -> why it cannot be avoided. Empty: every case could be.
DOMAIN_ALLOWED: dict[tuple[str, str], str] = {}


def _every_import(name: str, path: Path):
    """(absolute module, line) of every import in ``path``: module level and inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):  # walks every function body too
        if isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                base = package.split(".")
                origin = ".".join(base[: len(base) - node.level + 1] + ([origin] if origin else []))
            for alias in node.names:
                yield f"{origin}.{alias.name}", node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno


def _forbidden(target: str) -> str | None:
    return next(
        (f for f in DOMAIN_MAY_NOT_IMPORT if target == f or target.startswith(f + ".")), None
    )


def test_the_domain_imports_no_engine_no_view_and_no_sign_in():
    wrong = []
    for name, path in MODULES.items():
        if not name.startswith("webapp.domain"):
            continue
        for target, line in _every_import(name, path):
            forbidden = _forbidden(target)
            if forbidden and (name, forbidden) not in DOMAIN_ALLOWED:
                wrong.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target}")
    assert wrong == []


def test_the_domain_check_sees_function_level_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..anr import queue\n    import flask_login\n")
    found = [t for t, _ in _every_import("webapp.domain.probe", probe) if _forbidden(t)]
    assert found == ["webapp.anr.queue", "flask_login"]
