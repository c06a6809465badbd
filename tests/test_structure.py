"""The package structure: imports point down (benchmarks -> agents -> dfplan), no way back up."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = {"benchmarks", "agents", "envs"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_dfplan_imports_nothing_of_the_suite():
    offenders = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & SUITE)
                 for path in (ROOT / "dfplan").rglob("*.py") if imported_packages(path) & SUITE}
    assert not offenders, offenders


def test_agents_and_envs_do_not_import_the_benchmarks():
    for package in ("agents", "envs"):
        offenders = [str(path.relative_to(ROOT)) for path in (ROOT / package).rglob("*.py")
                     if "benchmarks" in imported_packages(path)]
        assert not offenders, offenders


def test_the_video_module_imports_no_command_line_module_but_its_own():
    for path in (ROOT / "dfplan" / "video").rglob("*.py"):
        source = path.read_text()
        assert "dfplan.cli" not in source and "benchmarks.cli" not in source, path


def test_no_entry_point_leads_from_the_library_to_the_suite():
    text = (ROOT / "pyproject.toml").read_text()
    assert "entry-points" not in text
    scripts = re.findall(r'^\w[\w-]* = "([\w.]+):\w+"', text, flags=re.M)
    assert scripts and not [target for target in scripts if target.split(".")[0] in SUITE]
