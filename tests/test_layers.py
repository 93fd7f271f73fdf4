"""The package's import graph: no cycles, and no module imports a higher layer (read with ``ast``,
function-level imports included, so a lazy import cannot hide a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "illab"

LAYERS = {  # lower layers never import higher ones
    "illab.seeds": 0, "illab.fileio": 0, "illab.checks": 0, "illab.demonstrations": 0, "illab.datafile": 0,
    "illab.policy": 1,
    "illab.rollout": 2,
    "illab.evaluate": 3, "illab.recording": 3, "illab.data": 3,
    "illab.hub": 4, "illab.experts": 4,
    "illab.controller": 5, "illab.methods": 5,
    "illab.benchmark": 6, "illab.viz": 6,
    "illab.course": 7,
    "illab.__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(name: str) -> int | None:
    while name:
        if name in LAYERS:
            return LAYERS[name]
        name = name.rpartition(".")[0]
    return None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PKG.rglob("*.py"):
        mod = _module_name(path)
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("illab"):
                if node.module == "illab":  # from illab import experts → the submodule
                    deps |= {f"illab.{a.name}" for a in node.names if a.name != "__version__"}
                else:
                    deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("illab.")}
        graph[mod] = {d for d in deps if d != mod}
    return graph


def test_every_module_has_a_layer():
    missing = [m for m in _graph() if m != "illab" and _layer(m) is None]
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_no_module_imports_a_higher_layer():
    upward = [(m, d) for m, deps in _graph().items() for d in deps
              if m != "illab" and _layer(d) is not None and _layer(d) > _layer(m)]
    assert not upward, f"upward imports (module → higher layer): {upward}"


def test_no_import_cycles():
    graph = _graph()
    # collapse submodules of the same package (illab.methods.bc → illab.methods) except within a package
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d not in graph:
                continue
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                cycle = visit(d)
                if cycle:
                    return cycle
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and m != "illab":
            cycle = visit(m)
            assert cycle is None, f"import cycle: {' → '.join(cycle)}"


def test_public_names_resolve_and_complete():
    import illab
    for name in illab.__all__:
        assert getattr(illab, name) is not None, name
    assert {"Controller", "BaselineDataset", "Demonstrations", "methods"} <= set(dir(illab))
    assert all((PKG / f"{m}.py").exists() or (PKG / m).is_dir() for m in illab._SUBMODULES)
