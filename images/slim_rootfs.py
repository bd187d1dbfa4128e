"""The runtime base from the build base: the same Debian root filesystem less the
packages that only building needs (pip, setuptools, wheel, venv, apt), as if they
had been purged, without running anything of the tree's own architecture.

Purging inside the tree would run each package's scripts, which for arm64 means under
emulation, for minutes. Their scripts only remove the byte code they compiled, so
this drops, from the tar: each package's files (its dpkg .list, read through the
merged-/usr links), the byte code of its removed sources, its dpkg info files and
its stanza in dpkg's status database. What is left is what dpkg would leave, and
what an SBOM scanner reads from the status file is what the image holds.

Called by images/base.sh:  python3 slim_rootfs.py BUILD.tar RUNTIME.tar
"""

from __future__ import annotations

import io
import re
import sys
import tarfile
from pathlib import PurePosixPath

# Nothing that runs in the functions' final stage imports or calls these; the build
# stage keeps them (Dockerfiles/: the build stage installs, the final one copies).
BUILD_ONLY = (
    "python3-pip",
    "python3-pip-whl",
    "python3-setuptools",
    "python3-setuptools-whl",
    "python3-wheel",
    "python3-venv",
    "python3.11-venv",
    "python3-pkg-resources",
    "apt",
    "libapt-pkg6.0",
    "gpgv",
    "debian-archive-keyring",
)
# What the final stage needs, with what they depend on: Python, trust in the CA
# bundle, useradd, and the libraries wheels load from the system (libseccomp for the
# sandbox's filter; libstdc++ and libgcc for compiled extensions). Essential and
# required packages stay too; what else only the build-only packages needed goes,
# as `apt-get autoremove` would take it.
ROOTS = (
    "python3",
    "python-is-python3",
    "ca-certificates",
    "passwd",
    "libseccomp2",
    "libstdc++6",
    "libgcc-s1",
)
# dpkg records the aliased paths (/bin, /lib) as packages ship them; the tar holds
# them under /usr, with the top-level names as symlinks.
MERGED = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
STATUS = "var/lib/dpkg/status"
INFO = "var/lib/dpkg/info/"


def _normal(path: str) -> str:
    parts = PurePosixPath(path.removeprefix("./").lstrip("/")).parts
    if parts and parts[0] in MERGED:
        return "/".join((MERGED[parts[0]], *parts[1:]))
    return "/".join(parts)


def _package_of(info_name: str) -> str:
    # "python3-pip.list", "libapt-pkg6.0:arm64.md5sums"
    return info_name.rsplit(".", 1)[0].split(":", 1)[0]


def _byte_code_of(source: str) -> str:
    path = PurePosixPath(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.")


def _stanzas(status: str) -> dict[str, str]:
    stanzas = {}
    for stanza in status.split("\n\n"):
        name = re.search(r"^Package: (\S+)$", stanza, re.M)
        if name is not None:
            stanzas[name.group(1)] = stanza
    return stanzas


def _depends(stanza: str) -> set[str]:
    """Every package a stanza's Depends and Pre-Depends name, alternatives included."""
    names = set()
    for field in re.findall(r"^(?:Pre-)?Depends: (.+)$", stanza, re.M):
        for alternative in re.split(r"[,|]", field):
            name = alternative.strip().split(" ", 1)[0].split(":", 1)[0]
            if name:
                names.add(name)
    return names


def removable(status: str) -> set[str]:
    """The build-only packages and what nothing kept depends on any more."""
    stanzas = _stanzas(status)
    kept: set[str] = set()
    wanted = [
        name
        for name, stanza in stanzas.items()
        if name in ROOTS
        or re.search(r"^Essential: yes$", stanza, re.M)
        or re.search(r"^Priority: required$", stanza, re.M)
    ]
    while wanted:
        name = wanted.pop()
        if name in kept or name in BUILD_ONLY or name not in stanzas:
            continue
        kept.add(name)
        wanted.extend(_depends(stanzas[name]))
    return set(stanzas) - kept


def _without_stanzas(status: bytes, packages: set[str]) -> bytes:
    stanzas = status.decode().split("\n\n")
    kept = []
    for stanza in stanzas:
        name = re.search(r"^Package: (\S+)$", stanza, re.M)
        if name is None or name.group(1) not in packages:
            kept.append(stanza)
    return "\n\n".join(kept).encode()


def _info_of(name: str, packages: set[str]) -> bool:
    return name.startswith(INFO) and _package_of(name[len(INFO) :]) in packages


def _owned(source: tarfile.TarFile, packages: set[str]) -> tuple[set[str], tuple[str, ...]]:
    """The files PACKAGES own, and the byte-code prefixes of their Python sources."""
    owned: set[str] = set()
    byte_code: list[str] = []
    # A .list names directories too; they, and the merged-/usr links that stand for
    # them (/bin is usr/bin), stay.
    directories = {_normal(m.name) for m in source.getmembers() if m.isdir()}
    for member in source.getmembers():
        name = _normal(member.name)
        if not (_info_of(name, packages) and name.endswith(".list")):
            continue
        listed = source.extractfile(member)
        assert listed is not None
        for line in listed.read().decode().splitlines():
            owned.add(_normal(line))
            if line.endswith(".py"):
                byte_code.append(_byte_code_of(_normal(line)))
    return owned - directories, tuple(byte_code)


def slim(build: str, runtime: str) -> tuple[int, int]:
    """Write RUNTIME from BUILD; the bytes of regular files kept and dropped."""
    kept = dropped = 0
    with (
        tarfile.open(build) as source,
        tarfile.open(runtime, "w", format=tarfile.PAX_FORMAT) as out,
    ):
        status_file = source.extractfile(f"./{STATUS}")
        assert status_file is not None
        packages = removable(status_file.read().decode())
        owned, byte_code = _owned(source, packages)
        for member in source.getmembers():
            name = _normal(member.name)
            # Directories stay: other packages may share them (dpkg would keep them too).
            if not member.isdir() and (
                name in owned or _info_of(name, packages) or name.startswith(byte_code or ("\0",))
            ):
                dropped += member.size
            elif name == STATUS:
                file = source.extractfile(member)
                assert file is not None
                data = _without_stanzas(file.read(), packages)
                member.size = len(data)
                out.addfile(member, io.BytesIO(data))
            elif member.isreg():
                kept += member.size
                out.addfile(member, source.extractfile(member))
            else:
                out.addfile(member)
    return kept, dropped


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: slim_rootfs.py BUILD.tar RUNTIME.tar", file=sys.stderr)
        return 2
    kept, dropped = slim(sys.argv[1], sys.argv[2])
    print(
        f"runtime base: {kept / 1e6:.0f} MB kept, {dropped / 1e6:.0f} MB dropped",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
