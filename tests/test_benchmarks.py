"""The benchmark and evaluation scripts in examples/ run, at tiny sizes, and write reports.

They produce the figures quoted in reports/; these tests only keep them from rotting (their
full-size runs are `python examples/<script>.py` and `python examples/benchmark.py`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_bench_scan(tmp_path):
    done = run("bench_scan.py", "--n", 40, "--data", tmp_path / "photos", "--out",
               tmp_path / "scan.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| 40 JPEG 512x384 |" in (tmp_path / "scan.md").read_text()


def test_bench_noise(tmp_path):
    done = run("bench_noise.py", "--n", 3000, "--report", tmp_path / "noise.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "whole `run_noise`" in (tmp_path / "noise.md").read_text()


def test_bench_dedupe_scale(tmp_path):
    done = run("bench_dedupe_scale.py", "--n", 3000, "--dim", 64, "--groups", 30, "--out",
               tmp_path / "vec", "--report", tmp_path / "scale.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    row = (tmp_path / "scale.md").read_text().splitlines()[-1]
    assert row.startswith("| 3,000 x 64 float16 | 30 ")
    assert "| 1.0000 | 1.0000 | 30 |" in row  # every planted group found exactly


def test_eval_oof_scores_both_modes(tmp_path):
    report = tmp_path / "oof.md"
    done = run("eval_oof.py", "--n-images", 60, "--fast-n", 300, "--embed-model", "test_vit",
               "--data", tmp_path / "demo", "--report", report, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = report.read_text()
    rows = [line for line in text.splitlines() if line.startswith(("| train |",
                                                                    "| embeddings |"))]
    assert len(rows) == 2 and "small_cnn trained per fold" in rows[0]
    assert "test_vit (random weights)" in rows[1]
    for row in rows:  # precision, recall and F1 are numbers in [0, 1]
        cells = row.split("|")[4:7]
        assert all(0 <= float(c.strip(" *")) <= 1 for c in cells), row
    assert "| logreg | 300 x 768 |" in text and "| knn | 300 x 768 |" in text


def test_bench_dedupe_says_how_to_get_imagededup(tmp_path):
    done = run("bench_dedupe.py", "--n", 30, "--copies", 3, "--out", tmp_path / "b",
               cwd=tmp_path)
    try:
        import imagededup  # noqa: F401
    except ImportError:
        assert done.returncode != 0
        assert "pip install imagededup" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert "labelclean scan + dedupe" in done.stdout


@pytest.mark.slow
def test_benchmark_gathers_sections(tmp_path):
    done = run("benchmark.py", "--skip", "demo,dedupe,dedupe-scale,embed,report", "--out",
               tmp_path / "benchmarks.md", cwd=EXAMPLES.parent)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "benchmarks.md").read_text()
    assert "## scan:" in text and "## noise:" in text and "Machine:" in text


@pytest.mark.slow
@pytest.mark.parametrize("script", ["eval_dedupe.py", "eval_noise.py"])
def test_demo_evaluations(tmp_path, script):
    args = ["--out", tmp_path / "d"] if script == "eval_dedupe.py" else [
        "--data", tmp_path / "d", "--report", tmp_path / "r.md"]
    done = run(script, *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
