"""The floor plan: the engine never imports Streamlit, Plotly or the dashboard, nothing in it imports
upward, and no product code reaches for ../shared or edits sys.path."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

ENGINE = REPO_ROOT / "vae_core"
# Each engine module's floor: a module may import its own floor and the floors below, never above.
FLOORS = {
    "errors": 0, "config": 0, "tf_import": 0, "dense": 0, "settings": 0,
    "images.data": 1, "tables.tabular": 1, "tables.synthetic": 1, "model": 1, "tables.thresholds": 1,
    "tables.baselines": 1, "tables.advice": 1,
    "training": 2, "latent": 2, "export": 2, "registry": 2, "images.classifier": 2, "sources": 2,
    "tables.bootstrap": 2,
    "images.mnist": 3, "tables.fraud": 3, "tables.fraud_analysis": 3, "tables.explain": 3, "images.compare": 3,
    "images.conditional": 3, "images.anatomy": 3, "archive": 3, "selection": 3, "tables.score_cache": 3,
    "tables.drift": 3,
    "jobs": 4, "cli": 4, "tables.dask_scoring": 4, "__main__": 4, "__init__": 4,
    "tables.__init__": 4, "images.__init__": 4,
}


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside functions (absolute names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module.split(".")[0] in ("vae_core", "dashboard"):  # `from vae_core import registry`
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def engine_module(path: Path) -> str:
    """vae_core/tables/fraud.py → "tables.fraud"."""
    return ".".join(path.relative_to(ENGINE).with_suffix("").parts)


def floor_of(imported: str) -> str | None:
    """The engine module an imported name lives in ("vae_core.tables.fraud.FraudModel" → "tables.fraud"),
    or None for a bare package (`from vae_core.tables import fraud` also names "vae_core.tables")."""
    parts = imported.split(".")[1:]
    return next((".".join(parts[:k]) for k in (2, 1) if ".".join(parts[:k]) in FLOORS), None)


def engine_graph() -> dict[str, set[str]]:
    """{engine module: the engine modules it imports}."""
    graph = {}
    for path in sorted(ENGINE.rglob("*.py")):
        targets = {floor_of(name) for name in imported_modules(path) if name.startswith("vae_core.")}
        graph[engine_module(path)] = targets - {engine_module(path), None}
    return graph


def test_every_engine_module_has_a_floor():
    assert set(engine_graph()) == set(FLOORS), "give each new engine module a floor in FLOORS"


def test_the_engine_imports_nothing_upward_and_has_no_loops():
    graph = engine_graph()
    upward = [(source, target) for source, targets in graph.items() for target in targets
              if FLOORS[target] > FLOORS[source]]
    assert upward == []

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(t == goal or (t not in seen and reaches(t, goal, seen | {t})) for t in graph[start])

    loops = sorted(m for m in graph if reaches(m, m, {m}))
    assert loops == []


def test_the_engine_never_imports_the_dashboard_streamlit_or_plotly():
    offenders = {engine_module(path): sorted(m for m in imported_modules(path)
                                   if m.split(".")[0] in ("streamlit", "plotly", "dashboard"))
                 for path in ENGINE.rglob("*.py")}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_importing_every_engine_module_loads_no_streamlit_or_plotly():
    """In a fresh interpreter, with every function-level import of the modules themselves left out."""
    modules = [f"vae_core.{engine_module(p)}".removesuffix(".__init__") for p in ENGINE.rglob("*.py")
               if p.stem != "__main__"]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in ('streamlit', 'plotly', 'dashboard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_only_the_dashboard_imports_streamlit_and_plotly():
    product = [REPO_ROOT / "app.py", *ENGINE.rglob("*.py"), *(REPO_ROOT / "dashboard").rglob("*.py")]
    users = {str(p.relative_to(REPO_ROOT)) for p in product
             if any(m.split(".")[0] in ("streamlit", "plotly") for m in imported_modules(p))}
    assert users and all(name.startswith("dashboard/") or name == "app.py" for name in users), users


@pytest.mark.parametrize("folder", ["vae_core", "dashboard"])
def test_product_code_does_not_hard_code_the_shared_data_folder(folder):
    hits = [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / folder).rglob("*.py") if "shared" in p.read_text()
            and ('"shared"' in p.read_text() or "../shared" in p.read_text())]
    assert hits == []


def test_no_sys_path_edits_in_tests_or_bench():
    scripts = [*(REPO_ROOT / "tests").rglob("*.py"), *(REPO_ROOT / "bench").rglob("*.py"),
               *(REPO_ROOT / "dashboard").rglob("*.py")]
    edits = [str(p.relative_to(REPO_ROOT)) for p in scripts if p.name != "test_layout.py"
             and ("sys.path.insert" in p.read_text() or "sys.path.append" in p.read_text())]
    assert edits == [] and len(scripts) > 20


def test_app_py_only_routes():
    tree = ast.parse((REPO_ROOT / "app.py").read_text())
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    names = sorted(f"{c.value.id}.{c.attr}" if isinstance(c, ast.Attribute) and isinstance(c.value, ast.Name)
                   else getattr(c, "id", "?") for c in calls)
    # Routing, and handing `streamlit run` the server's lifespan (the start-up warm-up) as st.App.
    assert names == ["navigation.run", "st.App", "st.set_page_config"]


def test_the_dashboard_has_no_import_loops():
    """Within the dashboard too, each module depends on the ones it imports, never back."""
    modules = {".".join(p.relative_to(REPO_ROOT).with_suffix("").parts): p
               for p in (REPO_ROOT / "dashboard").rglob("*.py")}
    graph = {name: {m for m in imported_modules(path) if m in modules and m != name} for name, path in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(t == goal or (t not in seen and reaches(t, goal, seen | {t})) for t in graph[start])

    assert sorted(m for m in graph if reaches(m, m, {m})) == []


def cached_functions_with_defaults() -> list[str]:
    """`file:function` for each Streamlit-cached function in the dashboard that has a default argument."""
    found = []
    for path in sorted((REPO_ROOT / "dashboard").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            cached = any("cache_resource" in d or "cache_data" in d for d in decorators)
            if cached and (node.args.defaults or any(d is not None for d in node.args.kw_defaults)):
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.name}")
    return found


def test_cached_functions_take_no_default_arguments():
    """Streamlit keys a cache by the arguments as passed, so `f(key)` and `f(key, None)` would compute
    and keep the same value twice (at start-up: the test digits' ELBO terms, twice)."""
    assert cached_functions_with_defaults() == []
