"""images/slim_rootfs.py: the runtime base is the build base less its build-only
packages, as dpkg would leave it after purging them."""

from __future__ import annotations

import importlib.util
import io
import tarfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slim_rootfs", ROOT / "images" / "slim_rootfs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STATUS = (
    "Package: python3-pip\nStatus: install ok installed\n"
    "Depends: ca-certificates, python3-distutils, python3:any\n\n"
    "Package: python3-distutils\nStatus: install ok installed\n\n"
    "Package: python3\nStatus: install ok installed\nDepends: python3.11-minimal (>= 3.11.2-1)\n\n"
    "Package: python3.11-minimal\nStatus: install ok installed\nInstalled-Size: 6743\n"
)
FILES = {
    "./usr/lib/python3/dist-packages/pip/__init__.py": b"# pip",
    "./usr/lib/python3/dist-packages/pip/__pycache__/__init__.cpython-311.pyc": b"pyc",
    "./usr/bin/pip3": b"#!/usr/bin/python3",
    "./usr/bin/python3.11": b"\x7fELF",
    "./var/lib/dpkg/info/python3-pip.list": (
        b"/.\n/usr\n/usr/bin\n/usr/lib/python3/dist-packages/pip/__init__.py\n/bin/pip3\n"
    ),
    "./var/lib/dpkg/info/python3-pip.postinst": b"#!/bin/sh",
    "./var/lib/dpkg/info/python3.11-minimal.list": b"/usr/bin/python3.11\n",
    # Only pip needed it: it goes too, as autoremove would take it.
    "./usr/lib/python3/dist-packages/distutils/core.py": b"# distutils",
    "./var/lib/dpkg/info/python3-distutils.list": (
        b"/usr/lib/python3/dist-packages/distutils/core.py\n"
    ),
    "./var/lib/dpkg/status": STATUS.encode(),
}


def _build_tar(path: Path) -> None:
    with tarfile.open(path, "w") as tar:
        for directory in ("./usr/", "./usr/bin/", "./usr/lib/"):
            member = tarfile.TarInfo(directory)
            member.type = tarfile.DIRTYPE
            tar.addfile(member)
        link = tarfile.TarInfo("./bin")
        link.type, link.linkname = tarfile.SYMTYPE, "usr/bin"
        tar.addfile(link)
        for name, data in FILES.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


def test_a_build_only_package_goes_with_its_orphans_byte_code_info_and_status(
    tmp_path: Path,
) -> None:
    build, runtime = tmp_path / "build.tar", tmp_path / "runtime.tar"
    _build_tar(build)
    kept, dropped = _module().slim(str(build), str(runtime))
    with tarfile.open(runtime) as tar:
        names = set(tar.getnames())
        status_file = tar.extractfile("./var/lib/dpkg/status")
        assert status_file is not None
        status = status_file.read().decode()
    # pip3 was listed as /bin/pip3: found through the merged-/usr link.
    assert not names & {
        "./usr/bin/pip3",
        "./usr/lib/python3/dist-packages/pip/__init__.py",
        "./usr/lib/python3/dist-packages/pip/__pycache__/__init__.cpython-311.pyc",
        "./var/lib/dpkg/info/python3-pip.list",
        "./var/lib/dpkg/info/python3-pip.postinst",
    }
    assert {"./usr/bin/python3.11", "./var/lib/dpkg/info/python3.11-minimal.list", "./bin"} <= names
    assert "./usr/lib/python3/dist-packages/distutils/core.py" not in names
    assert "python3-pip" not in status and "python3-distutils" not in status
    assert "Package: python3.11-minimal" in status and "Package: python3\n" in status
    assert dropped == sum(
        len(FILES[name]) for name in FILES if "pip" in name or "distutils" in name
    )
    assert kept > 0
