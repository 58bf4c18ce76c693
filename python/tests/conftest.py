"""Shared fixtures of the omendb pytest suite.

The suite imports `omendb` from PYTHONPATH (ctest points it at
build/<preset>/python) or from an installed copy. Data: siftsmall through
examples/datasets.py when present, generated vectors otherwise.
"""
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, "examples")
sys.path.insert(0, EXAMPLES)

import datasets  # noqa: E402


def python_env():
    """Environment for child Python processes: the same omendb on the path."""
    import omendb

    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(omendb.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [package_parent, EXAMPLES] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="session")
def sift():
    """siftsmall, or the generated 10,000 x 128 clustered set."""
    return datasets.load()


@pytest.fixture
def db():
    import omendb

    with omendb.open(":memory:") as d:
        yield d


@pytest.fixture(scope="session")
def small():
    """2,000 random 32-d vectors with metadata columns."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2000, 32)).astype(np.float32)
    meta = {
        "year": [int(2000 + i % 25) for i in range(2000)],
        "lang": ["en" if i % 3 == 0 else ("fr" if i % 3 == 1 else "de") for i in range(2000)],
        "score": [float(i) / 2000.0 for i in range(2000)],
        "even": [i % 2 == 0 for i in range(2000)],
    }
    return x, meta
