"""The house rules of docs/architecture.md, checked on the source: stages import only upstream, no module over
400 lines, no run-file name outside rundir.py, the CLI imports the facade alone, the training step has one home."""

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "semready"
# lower layers first: a module may import its own package and anything below its layer, never above
LAYERS = [
    {"errors", "io", "backbone_names", "config", "configs", "progress", "overrides"},
    {"rundir"},
    {"data"},
    {"teacher"},
    {"split"},
    {"comm"},
    {"report"},
    {"pipeline", "export"},
    {"experiments"},
    {"api"},
    {"estimator"},
    {"cli"},
]
RUN_FILES = ("config.yaml", "checkpoint.safetensors", "state.json", "log.csv", "samples.csv", "clusters.csv",
             "split.json", "regen.safetensors", "typicality.safetensors", "metrics.json", "kpis.json",
             "kpis_items.csv", "rd.json", "report.html",
             "results.csv", "summary.json", "report.md", "job.json", "stream.npz", "family.npy")


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "sample" not in p.parts)


def top(path: Path) -> str:
    """The stage (first component under semready/) a module belongs to."""
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def layer(name: str) -> int:
    return next(i for i, group in enumerate(LAYERS) if name in group)


def imported(path: Path) -> set[str]:
    """The semready stages a module imports, lazily (inside functions) or not."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("semready"):
            names = [node.module] if node.module != "semready" else [f"semready.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("semready.")]
        out |= {n.split(".")[1] for n in names if n.count(".") >= 1}
    return out


def test_layers_are_known_and_modules_import_only_downstream_stages():
    bad = []
    for path in modules():
        if path == SRC / "__init__.py":  # the root exports the main objects lazily
            continue
        own = top(path)
        for stage in imported(path) - {own}:
            if layer(stage) > layer(own):
                bad.append(f"{path.relative_to(SRC)} imports semready.{stage}")
    assert not bad, "\n".join(bad)


def test_the_check_above_sees_a_violation():
    """The layer check is not vacuous: the report stage imports the teacher (allowed); reversed, it would fail."""
    assert "teacher" in imported(SRC / "report" / "html.py")
    assert layer("teacher") < layer("report")


def test_no_module_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in modules() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def _strings_outside_docstrings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]


def path_literals(path: Path) -> list[str]:
    """String constants of a module (docstrings aside) that name a run file as a path would: no whitespace, so
    messages and help texts that mention a file to a person do not count."""
    pattern = re.compile("|".join(re.escape(f) for f in RUN_FILES))
    return [s for s in _strings_outside_docstrings(path) if pattern.search(s) and not re.search(r"\s", s)]


def test_run_file_names_live_in_rundir_alone():
    found = {str(p.relative_to(SRC)): hits for p in modules() if top(p) != "rundir" if (hits := path_literals(p))}
    assert not found, found
    assert "samples.csv" in path_literals(SRC / "rundir" / "run.py")  # the check reads the literals it should


def test_the_cli_imports_the_facade_alone():
    assert imported(SRC / "cli.py") <= {"api", "errors"}


@pytest.mark.parametrize("name", ["momentum_update(", "instance_discrimination(", "cluster_discrimination("])
def test_the_training_step_has_one_home(name):
    """The step's pieces are called from the teacher's model and losses only (no copy of the step elsewhere)."""
    callers = {str(p.relative_to(SRC)) for p in modules() if name in p.read_text()}
    assert callers <= {"teacher/model.py", "teacher/losses.py", "teacher/heads.py"}, callers
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    assert not [p.name for p in benchmarks.glob("*.py") if name in p.read_text()]
