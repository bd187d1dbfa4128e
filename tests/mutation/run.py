"""`make mutation`: mutmut on the status logic, one module at a time, with the unit
tests alone; prints each module's score.

Each module is mutated in a scratch copy of the working tree (mutmut keeps its state
in `mutants/` of the directory it runs in), with only the unit tests that exercise
it, so that a run fits a small machine. The score leaves out the mutants listed in
tests/mutation/equivalent.txt (each with one line saying why it cannot be killed).

    python tests/mutation/run.py [MODULE ...]   # default: all three
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutation"
EQUIVALENT = Path(__file__).resolve().parent / "equivalent.txt"
GOAL = 90.0

STATUS_TESTS = [
    "tests/unit/test_transitions.py",
    "tests/unit/test_retries.py",
    "tests/unit/test_resync.py",
    "tests/unit/test_leases.py",
    "tests/unit/test_status_writes.py",
    "tests/unit/test_result_configmaps.py",
    "tests/unit/test_forged_events.py",
    "tests/unit/test_job_span.py",
    "tests/unit/test_claims.py",
    "tests/unit/test_status_fields.py",
    "tests/unit/test_kube_status_writer.py",
    "tests/unit/test_reconciling.py",
]
MODULES = {
    "qiskit_operator/status/transitions.py": STATUS_TESTS,
    "qiskit_operator/kube/status.py": STATUS_TESTS,
    "qiskit_operator/reconciling.py": STATUS_TESTS,
}


def equivalent(module: str) -> set[str]:
    """Mutant names listed as equivalent for `module` (`name  # why`)."""
    prefix = module.removesuffix(".py").replace("/", ".") + "."
    names = set()
    for line in EQUIVALENT.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name.startswith(prefix):
            names.add(name)
    return names


def scratch(module: str) -> Path:
    """A copy of the working tree's files, with mutmut told what to mutate and test."""
    where = WORK / re.sub(r"\W", "_", module)
    shutil.rmtree(where, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, where / name)
    tests = json.dumps(MODULES[module])
    with (where / "pyproject.toml").open("a") as pyproject:
        pyproject.write(
            "\n[tool.mutmut]\n"
            'source_paths = ["qiskit_operator"]\n'
            f'only_mutate = ["{module}"]\n'
            f"pytest_add_cli_args_test_selection = {tests}\n"
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]\n'
            'also_copy = ["examples", "knative", "crds", "functions"]\n'
        )
    return where


def score(module: str) -> tuple[float, dict[str, int], list[str]]:
    where = scratch(module)
    # On the path before mutmut starts: a folder missing then stays unsearched for its run.
    (where / "mutants").mkdir()
    env = {**os.environ, "PYTHONPATH": str(where / "mutants")}
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    children = os.environ.get("QOP_MUTATION_CHILDREN", "1")
    subprocess.run([mutmut, "run", "--max-children", children], cwd=where, env=env, check=False)
    subprocess.run([mutmut, "export-cicd-stats"], cwd=where, env=env, check=True)
    stats = json.loads((where / "mutants" / "mutmut-cicd-stats.json").read_text())
    listing = subprocess.run(
        [mutmut, "results"], cwd=where, env=env, capture_output=True, text=True, check=True
    ).stdout
    survivors = [
        line.split(":")[0].strip()
        for line in listing.splitlines()
        if line.strip().endswith(("survived", "no tests"))
    ]
    excused = equivalent(module) & set(survivors)
    counted = stats["total"] - stats["skipped"] - len(excused)
    killed = stats["killed"] + stats["timeout"] + stats["suspicious"]
    percent = 100.0 * killed / counted if counted else 100.0
    stats["equivalent"] = len(excused)
    return percent, stats, [s for s in survivors if s not in excused]


def main(modules: list[str]) -> int:
    worst = 100.0
    lines = []
    for module in modules or list(MODULES):
        percent, stats, survivors = score(module)
        worst = min(worst, percent)
        line = (
            f"{module}: {percent:.1f}% killed ({stats['killed']} killed, {stats['timeout']} "
            f"timed out, {len(survivors)} survived, {stats['equivalent']} equivalent, "
            f"of {stats['total']})"
        )
        lines.append(line)
        print(line, *(f"  survived: {name}" for name in survivors), sep="\n", flush=True)
    print("\n".join(["", "mutation scores:", *lines]))
    return 0 if worst >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
