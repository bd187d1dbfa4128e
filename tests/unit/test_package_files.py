"""Where qop finds knative/ and functions/: the checkout's folders when it runs from
one; tests/integration/test_wheel.py covers the wheel's copies."""

from __future__ import annotations

from pathlib import Path

from qiskit_operator import package_files
from qiskit_operator.settings import Settings
from tests.conftest import ROOT


def test_a_checkout_reads_knative_and_functions_where_they_are() -> None:
    assert package_files.checkout() == ROOT
    settings = Settings.from_env({})
    assert settings.knative_dir == ROOT / "knative"
    assert settings.functions_dir == ROOT / "functions"
    assert Settings().knative_dir == settings.knative_dir


def test_the_environment_still_names_other_folders() -> None:
    settings = Settings.from_env({"QOP_KNATIVE_DIR": "/etc/k", "QOP_FUNCTIONS_DIR": "/srv/f"})
    assert (settings.knative_dir, settings.functions_dir) == (Path("/etc/k"), Path("/srv/f"))


def test_the_checkout_never_holds_the_wheels_copies() -> None:
    # setup.py writes them into the build directory only: here they would go stale.
    assert not package_files.BUNDLED.exists()
