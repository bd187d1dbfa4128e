"""The README's Settings table lists every environment variable the code reads."""

from __future__ import annotations

import re

from tests.conftest import ROOT

# A read of a named variable: os.environ.get("X"), env.get("X"), os.getenv("X"), environ["X"],
# and the settings module's typed readers, whole_number(env, "X", ...) and number(env, "X", ...).
READ = re.compile(
    r"""(?:environ|env)(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']|getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|number\(\s*env,\s*["']([A-Z][A-Z0-9_]*)["']"""
)
# Set by qop for its own children, never by a user.
INTERNAL = {"PROMETHEUS_MULTIPROC_DIR"}


def variables_read() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in ("qiskit_operator", "functions"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for match in READ.finditer(path.read_text()):
                name = match[1] or match[2] or match[3]
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def settings_table() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Settings\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, flags=re.MULTILINE))


def test_every_variable_the_code_reads_is_in_the_readme_table() -> None:
    read = variables_read()
    assert {"LOG_LEVEL", "PORT", "QOP_RESULTS_DIR"} <= set(read)  # the scan finds reads
    missing = {name: where for name, where in read.items() if name not in INTERNAL}
    missing = {name: where for name, where in missing.items() if name not in settings_table()}
    assert not missing, f"add these to README.md's Settings table: {missing}"


def test_the_table_lists_nothing_the_code_does_not_read() -> None:
    stale = settings_table() - set(variables_read()) - {"KUBECONFIG"}
    assert not stale, f"README.md's Settings table lists variables no code reads: {stale}"
