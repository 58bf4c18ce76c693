"""Builds the omendb Python package.

The extension module omendb._omendb is built by the repository's CMake
project (target omendb_python, which needs nothing but Debian's packages:
scripts/install-deps.sh), then copied into the package. Offline install:

    /usr/bin/python3 -m pip install --no-build-isolation ./python

Environment: OMENDB_SOURCE_DIR overrides the repository root (default: the
parent of this directory); CMAKE_BUILD_PARALLEL_LEVEL sets the build's jobs
(default 2).
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def source_dir() -> str:
    root = os.environ.get("OMENDB_SOURCE_DIR") or os.path.dirname(HERE)
    if not os.path.isfile(os.path.join(root, "include", "omendb", "db.h")):
        sys.exit(f"omendb setup: {root} is not the OmenDB repository (set OMENDB_SOURCE_DIR)")
    return root


class CMakeExtension(Extension):
    """An extension whose shared object comes from a CMake target."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name, sources=[])
        self.target = target


class CMakeBuild(build_ext):
    """Configures the repository with CMake (Release, library and module
    only) and builds the module target, then copies it into place."""

    def build_extension(self, ext: Extension) -> None:
        if not isinstance(ext, CMakeExtension):
            return super().build_extension(ext)
        build_dir = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        os.makedirs(build_dir, exist_ok=True)
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        configure = [
            "cmake", "-S", source_dir(), "-B", build_dir, *generator,
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_CXX_FLAGS_RELEASE=-O3 -DNDEBUG",
            "-DOMENDB_BUILD_TESTS=OFF", "-DOMENDB_BUILD_BENCH=OFF", "-DOMENDB_BUILD_CLI=OFF",
            "-DOMENDB_PYTHON=ON",
            f"-DOMENDB_PYTHON_EXECUTABLE={sys.executable}",
            f"-DPython_EXECUTABLE={sys.executable}",
        ]
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", build_dir, "--target", ext.target, "-j", jobs], check=True)
        built_dir = os.path.join(build_dir, "python", "omendb")
        suffix_matches = [f for f in os.listdir(built_dir)
                          if f.startswith("_omendb.") and f.endswith(".so")]
        if not suffix_matches:
            sys.exit(f"omendb setup: the build left no _omendb module in {built_dir}")
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(os.path.join(built_dir, suffix_matches[0]), dest)


setup(
    name="omendb",
    version="0.1.0",
    description="OmenDB: an embedded vector database (HNSW, numpy zero-copy, metadata filters)",
    packages=["omendb"],
    package_data={"omendb": ["py.typed", "*.pyi"]},
    ext_modules=[CMakeExtension("omendb._omendb", target="omendb_python")],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.8",
    zip_safe=False,
)
