"""Score both ways ``labelclean oof`` makes its OOF, each followed by ``labelclean noise``.

On the demo dataset (1,797 digit 'photos' + copies + broken files, known wrong labels),
through the command line as a user would run it:

* **train** (full mode): ``labelclean oof --from train``, k-fold training of the default
  ``small_cnn`` on the images;
* **embeddings** (fast mode): ``labelclean embed`` then ``labelclean oof --from
  embeddings`` (logistic regression on the pooled features). Offline there are no
  pretrained weights, so the backbone has random weights unless ``--weights FILE`` is given.

Each run is scored against the injected truth (label-issue precision/recall/F1, accuracy of
suggested labels) and timed; the table goes to ``reports/oof.md``.

    python examples/eval_oof.py [--modes train,embeddings] [--embed-model convnext_nano]
                                [--weights FILE] [--report reports/oof.md]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd
from _cli import labelclean

from labelclean import __version__
from labelclean.demo.data import make_demo
from labelclean.evaluate.truth import score_against_truth


def oof_args(mode: str) -> list[str]:
    """The oof command of a mode (fast mode uses the embeddings just made: the newest)."""
    return ["oof", "--from", "train" if mode == "train" else "embeddings", "--force"]


def run_mode(mode: str, data: Path, model: str, weights: Path | None) -> dict:
    """One OOF mode then noise on the demo in ``data``; its scores and seconds."""
    start = time.perf_counter()
    if mode == "embeddings":
        embed = ["embed", "--model", model, "--force"]
        embed += ["--weights", str(weights)] if weights else ["--no-pretrained"]
        labelclean(*embed, cwd=data)
    out = labelclean(*oof_args(mode), cwd=data)
    labelclean("noise", cwd=data)
    seconds = time.perf_counter() - start
    agreement = next((line.split()[1] for line in out.splitlines()
                      if line.strip().startswith("overall:")), "?")
    truth = pd.read_csv(data / "truth.csv", dtype={"image_id": str})
    scores = score_against_truth(data / ".labelclean", truth)
    return {"mode": mode, "seconds": seconds, "agreement": agreement, **scores}


def time_fast_mode(n: int, dim: int = 768, classes: int = 5, seed: int = 0) -> str:
    """Seconds of fast mode (5-fold logistic regression + calibration, and kNN) on ``n``
    synthetic ``dim``-d embeddings with class structure and 10 % flipped labels."""
    import numpy as np

    from labelclean.oof.stage import out_of_fold_probs

    rng = np.random.default_rng(seed)
    true = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    x = centres[true] + rng.normal(scale=3.0, size=(n, dim)).astype(np.float32)
    given = np.where(rng.random(n) < 0.1, (true + 1) % classes, true)
    lines = []
    for learner in ("logreg", "knn"):
        start = time.perf_counter()
        result = out_of_fold_probs(x, given, np.arange(n), n_classes=classes, learner=learner)
        seconds = time.perf_counter() - start
        accuracy = float((result.probs.argmax(1) == true).mean())
        lines.append(f"| {learner} | {n:,} x {dim} | {seconds:.1f} | {accuracy:.3f} |")
    return ("| fast-mode learner | embeddings | seconds (5 folds) | accuracy vs true labels |\n"
            "|---|---|---|---|\n" + "\n".join(lines))


def table(rows: list[dict], model: str, weights: Path | None) -> str:
    backbone = f"{model} ({'weights ' + weights.name if weights else 'random weights'})"
    lines = ["| mode | OOF from | agreement with given labels | precision | recall | F1 | "
             "relabel accuracy | seconds (oof + noise) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        relabel = f"{r['relabel_accuracy']:.3f}" if "relabel_accuracy" in r else "n/a (none)"
        source = "small_cnn trained per fold" if r["mode"] == "train" else (
            f"logistic regression on {backbone} embeddings")
        lines.append(
            f"| {r['mode']} | {source} | {r['agreement']} | "
            f"{r.get('label_issue_precision', 0):.3f} | {r.get('label_issue_recall', 0):.3f} | "
            f"**{r.get('label_issue_f1', 0):.3f}** | {relabel} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="train,embeddings")
    parser.add_argument("--embed-model", default="convnext_nano")
    parser.add_argument("--weights", type=Path, default=None,
                        help="pretrained weights of --embed-model (else random weights)")
    parser.add_argument("--n-images", type=int, default=None, help="demo originals (all)")
    parser.add_argument("--data", type=Path, default=None, help="demo folder (a temp one)")
    parser.add_argument("--fast-n", type=int, default=20000,
                        help="synthetic embeddings to time fast mode on (0: skip)")
    parser.add_argument("--report", type=Path, default=Path("reports/oof.md"))
    args = parser.parse_args(argv)

    data = args.data or Path(tempfile.mkdtemp(prefix="lc-oof-")) / "demo"
    if not (data / "truth.csv").exists():
        scale = 1.0 if args.n_images is None else args.n_images / 1797
        make_demo(data, n_images=args.n_images, n_exact=max(2, round(60 * scale)),
                  n_near=max(4, round(120 * scale)))
    labelclean("init", "--images", "train_images", "--labels", "labels.csv", cwd=data)
    labelclean("scan", cwd=data)
    labelclean("dedupe", cwd=data)
    rows = [run_mode(m.strip(), data, args.embed_model, args.weights)
            for m in args.modes.split(",") if m.strip()]

    speed = time_fast_mode(args.fast_n) if args.fast_n else ""
    n = len(pd.read_csv(data / "labels.csv"))
    text = (
        "# Out-of-fold probabilities made by labelclean, scored on the demo\n\n"
        f"`python examples/eval_oof.py --modes {args.modes} --embed-model {args.embed_model}`"
        f"\n\nThe demo dataset ({n:,} files: digit photos, copies, 2 broken files, ~12% wrong "
        "labels), `labelclean init / scan / dedupe`, then per mode `labelclean oof` and "
        "`labelclean noise` with default options, on CPU, offline. Scores: `is_label_issue` "
        "against the injected wrong labels; relabel accuracy is the share of `relabel` rows "
        "whose suggested label is the true one.\n\n"
        f"{table(rows, args.embed_model, args.weights)}\n\n"
        + ("" if args.weights else
           "Fast mode is only as good as the embeddings: it is meant for pretrained ones "
           "(`labelclean embed` online, or `--weights FILE`), which an offline run cannot "
           "have. On random weights it shows why `labelclean oof` (source `auto`) passes "
           "random-weight embeddings over and trains instead. Re-run with `--weights` of a "
           "pretrained backbone to score fast mode properly.\n\n")
        + (f"Fast mode's speed on {args.fast_n:,} synthetic embeddings (5 classes, 10 % "
           "flipped labels; `out_of_fold_probs`, the library call behind `labelclean oof "
           f"--from embeddings`):\n\n{speed}\n\n" if speed else "") +
        f"Machine: {platform.machine()}, Python {platform.python_version()}, labelclean "
        f"{__version__}, {time.strftime('%Y-%m-%d')}.\n")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
