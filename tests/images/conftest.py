"""The image tests need what `make images` builds and leaves running (images/daemons.sh):
without it they skip, and fail under images/with_images.sh (`make test-images`), which
builds them first and sets QOP_REQUIRE_IMAGES."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.images.engine import IMAGES, Engine, environment

REQUIRED = os.environ.get("QOP_REQUIRE_IMAGES", "").lower() == "true"


@pytest.fixture(scope="session")
def engine() -> Engine:
    found = Engine(environment())
    try:
        missing = [
            image
            for image in IMAGES
            if found.docker(
                "image", "inspect", f"qiskit-operator/{image}:dev", check=False, timeout=30
            ).returncode
            != 0
        ]
        problem = f"no qiskit-operator/{{{','.join(missing)}}}:dev" if missing else ""
    except (AssertionError, subprocess.TimeoutExpired, FileNotFoundError) as error:
        problem = f"no Docker engine of images/daemons.sh ({error})"
    if problem:
        message = f"{problem}: run `make images` first"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return found
