"""The benchmark and evaluation scripts in examples/ run, at tiny sizes, and write reports.

They produce the figures quoted in reports/; these tests keep them from rotting (their
full-size runs are `python examples/<script>.py` and `python examples/benchmark.py`). Each
script's ``main(argv)`` runs in this process, as its command line would.
"""

from __future__ import annotations

import os
import re

import pytest


def test_bench_scan(example, tmp_path):
    example("bench_scan").main(["--n", "40", "--data", str(tmp_path / "photos"), "--out",
                                str(tmp_path / "scan.md")])
    assert f"| 40 JPEG 512x384 | {os.cpu_count()} | " in (tmp_path / "scan.md").read_text()


def test_bench_noise(example, tmp_path):
    example("bench_noise").main(["--n", "3000", "--report", str(tmp_path / "noise.md")])
    text = (tmp_path / "noise.md").read_text()
    assert "| whole `run_noise`: read, check, align, cleanlab, decide, write 3 files | " in text
    # 10% of the 3,000 labels are wrong (300): the noise stage finds about that many
    issues = int(re.search(r"^([\d,]+) label issues; actions: ", text, re.M)[1].replace(",", ""))
    assert 240 <= issues <= 360, issues


def test_bench_dedupe_scale(example, tmp_path):
    example("bench_dedupe_scale").main([
        "--n", "3000", "--dim", "64", "--groups", "30", "--out", str(tmp_path / "vec"),
        "--report", str(tmp_path / "scale.md")])
    row = (tmp_path / "scale.md").read_text().splitlines()[-1]
    assert row.startswith("| 3,000 x 64 float16 | 30 ")
    assert "| 1.0000 | 1.0000 | 30 |" in row  # every planted group found exactly


@pytest.mark.slow
def test_bench_scale_parts(example, tmp_path):
    bench, report = example("bench_scale"), tmp_path / "scale.md"
    bench.main(["embeddings", "--n", "3000", "--dim", "32", "--groups", "20", "--tmp",
                str(tmp_path), "--report", str(report)])
    bench.main(["hashes", "--n", "2000", "--blank", "300", "--report", str(report)])
    bench.main(["noise", "--n", "3000", "--path", "both", "--tmp", str(tmp_path),
                "--report", str(report)])
    lines = report.read_text().splitlines()
    embed = next(line for line in lines if line.startswith("| 3,000 x 32 float16"))
    assert "| exact |" in embed and "| 1.0000 | 1.0000 | 1.0000 |" in embed
    assert any(line.startswith("| 2,000 (300 near-blank) | 10 |") for line in lines)
    assert "| 0 rows differ from batched |" in lines[-2]


def test_eval_oof_scores_both_modes(example, tmp_path):
    import pandas as pd

    script, report, data = example("eval_oof"), tmp_path / "oof.md", tmp_path / "demo"
    script.main(["--n-images", "60", "--fast-n", "300", "--embed-model", "test_vit", "--data",
                 str(data), "--report", str(report)])
    text = report.read_text()
    rows = {line.split("|")[1].strip(): [c.strip(" *") for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith(("| train |", "| embeddings |"))}
    assert list(rows) == ["train", "embeddings"]
    assert rows["train"][0] == "small_cnn trained per fold"
    assert rows["embeddings"][0] == "logistic regression on test_vit (random weights) embeddings"
    for mode, (_, agreement, precision, recall, f1, *_) in rows.items():
        p, r = float(precision), float(recall)
        assert 0 < float(agreement) <= 1, mode
        assert abs(float(f1) - 2 * p * r / max(p + r, 1e-12)) <= 0.002, mode
    # 60 images are too few to learn from (both modes score like random probabilities), so
    # the table is held to the scores of the run instead: the last mode's are in the workdir
    truth = pd.read_csv(data / "truth.csv", dtype={"image_id": str})
    scores = script.score_against_truth(data / ".labelclean", truth)
    assert rows["embeddings"][2:5] == [f"{scores[f'label_issue_{k}']:.3f}"
                                       for k in ("precision", "recall", "f1")]
    # fast mode's learners on separable synthetic embeddings (10% flipped labels) recover
    # the true labels (seed 0: 1.000 both); random probabilities would score about 0.2
    speed = dict(re.findall(r"^\| (logreg|knn) \| 300 x 768 \| [\d.]+ \| ([\d.]+) \|$", text,
                            re.M))
    assert sorted(speed) == ["knn", "logreg"]
    assert all(float(accuracy) >= 0.9 for accuracy in speed.values()), speed


def test_bench_dedupe_says_how_to_get_imagededup(example, tmp_path, capsys):
    bench = example("bench_dedupe")
    argv = ["--n", "30", "--copies", "3", "--rounds", "1", "--out", str(tmp_path / "b")]
    try:
        import imagededup  # noqa: F401
    except ImportError:
        with pytest.raises(SystemExit) as stopped:
            bench.main(argv)
        assert stopped.value.code == ("imagededup is not installed; run 'pip install "
                                      "imagededup' to compare")
    else:
        bench.main(argv)
        assert "| labelclean scan + dedupe | " in capsys.readouterr().out


@pytest.mark.slow
def test_benchmark_gathers_sections(example, tmp_path):
    example("benchmark").main(["--skip", "demo,dedupe,dedupe-scale,embed,report", "--out",
                               str(tmp_path / "benchmarks.md")])
    text = (tmp_path / "benchmarks.md").read_text()
    assert text.startswith("# labelclean benchmarks\n\nMachine: ")
    for name, script in (("scan", "bench_scan"), ("noise", "bench_noise"), ("oof", "eval_oof")):
        assert f"## {name}: `python examples/{script}.py`" in text, name  # ran, did not fail


@pytest.mark.slow
@pytest.mark.parametrize("script", ["eval_dedupe", "eval_noise"])
def test_demo_evaluations(example, tmp_path, script):
    args = ["--out", str(tmp_path / "d")] if script == "eval_dedupe" else [
        "--data", str(tmp_path / "d"), "--report", str(tmp_path / "r.md")]
    example(script).main(args)


def test_benchmark_tables_are_printed_and_appended_to_the_report(example, tmp_path, capsys):
    show = example("_cli").show
    report = tmp_path / "r.md"
    report.write_text("# Earlier\n")
    show("| a | b |", report)
    show("| c | d |", None)
    assert capsys.readouterr().out == "| a | b |\n| c | d |\n"
    assert report.read_text() == "# Earlier\n\n| a | b |"
