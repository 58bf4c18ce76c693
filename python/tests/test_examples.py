"""The programs under examples/ run and print what they promise."""
import os
import re
import subprocess
import sys

from conftest import EXAMPLES, python_env


def run_example(name, *args, cwd=None):
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args], env=python_env(),
                       capture_output=True, text=True, timeout=300, cwd=cwd)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_build_index(tmp_path):
    out = run_example("build_index.py", str(tmp_path / "db"))
    assert "inserted 10000 vectors of dim 128" in out
    recall = float(re.search(r"recall@10 \(ef=64\): ([0-9.]+)", out).group(1))
    assert recall >= 0.95, out
    assert os.path.exists(tmp_path / "db" / "CURRENT")


def test_filtered_search():
    out = run_example("filtered_search.py")
    assert "English since 2020:" in out
    # Each printed result satisfies its filter.
    blocks = re.split(r"\n(?=\S)", out)
    for block in blocks:
        rows = re.findall(r"year (\d+), lang (\w+), score ([0-9.]+)", block)
        if block.startswith("English since 2020"):
            assert len(rows) == 5 and all(int(y) >= 2020 and lang == "en" for y, lang, _ in rows)
        if block.startswith("not English, before 2005"):
            assert len(rows) == 5 and all(int(y) < 2005 and lang != "en" for y, lang, _ in rows)
    assert "every result from 2020 or later" in out


def test_persist_and_reopen(tmp_path):
    out = run_example("persist_and_reopen.py", str(tmp_path / "db"))
    pids = re.findall(r"process (\d+)", out)
    assert len(set(pids)) == 2, out  # written and reopened by two processes
    assert "same results" in out


def test_migrate_from_hnswlib(tmp_path):
    out = run_example("migrate_from_hnswlib.py", cwd=str(tmp_path))
    assert "mark_deleted / unmark_deleted: ok" in out
    recall = float(re.search(r"recall@10 \(ef=100\): ([0-9.]+)", out).group(1))
    assert recall >= 0.97, out
