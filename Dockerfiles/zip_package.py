"""Moves an installed package into a zip file that Python imports it from.

    python zip_package.py SITE_PACKAGES PACKAGE [PACKAGE ...]

For each PACKAGE (a directory in SITE_PACKAGES) it compiles every module to
bytecode beside its source (hash-based and unchecked, so the import never
stats or compares a source), writes sources and bytecode into
SITE_PACKAGES/PACKAGE.zip with deflate, adds a `PACKAGE.pth` naming it (site
puts it on sys.path, relative to SITE_PACKAGES, so the venv may move), and
deletes the directory. Python's zipimport loads the bytecode; tracebacks
still show source lines, read from the zip.

Used by the reconcile image for the kubernetes client, whose generated models
and APIs are 57 MB of mostly docstrings on disk and 10 MB deflated. The
package's .dist-info stays in SITE_PACKAGES, so its version is still known.
The interpreter that runs this must be the one the image runs (bytecode is
per minor version): the build stage's python is.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import sys
import zipfile
from pathlib import Path


def zip_package(site_packages: Path, package: str) -> Path:
    source = site_packages / package
    if not source.is_dir():
        raise SystemExit(f"{source} is not an installed package")
    # A namespace package (no __init__.py, e.g. opentelemetry) zips the same way:
    # zipimport finds its portions as it does a directory's.
    native = sorted(str(path) for path in source.rglob("*") if path.suffix in (".so", ".pyd"))
    if native:
        raise SystemExit(f"{package} has native modules, which zipimport cannot load: {native}")
    archive = site_packages / f"{package}.zip"
    for cache in source.rglob("__pycache__"):
        shutil.rmtree(cache)
    compiled = compileall.compile_dir(
        source,
        ddir=archive / package,  # what tracebacks name: the module inside the zip
        legacy=True,  # module.pyc beside module.py: the layout zipimport reads
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        quiet=1,
    )
    if not compiled:
        raise SystemExit(f"{package}: some modules did not compile")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zipped:
        # Directories get entries too: zipimport finds a namespace package (and its
        # portions) by its directory entry.
        for path in [source, *sorted(source.rglob("*"))]:
            zipped.write(path, path.relative_to(site_packages).as_posix())
    (site_packages / f"{package}.pth").write_text(f"{archive.name}\n")
    shutil.rmtree(source)
    return archive


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    site_packages = Path(argv[0])
    for package in argv[1:]:
        archive = zip_package(site_packages, package)
        print(f"{package}: {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
