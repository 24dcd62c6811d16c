"""Score ``labelclean noise`` against the demo dataset's injected label noise.

Builds the demo (1,797 digit 'photos', 10% wrong labels, duplicate copies with conflicting
labels, two broken files), scans it, makes an out-of-fold file with a plain classifier
(5-fold logistic regression on 8x8 downscaled pixels), then:

1. checks that the issues found equal cleanlab's own ``find_label_issues`` on that OOF;
2. scores them against the truth (precision, recall, F1), without and with duplicate groups;
3. measures how often the suggested label of ``relabel`` rows is the true label.

    python examples/eval_noise.py [--data DIR] [--report reports/noise.md]

Duplicate groups come from ``labelclean dedupe`` when that command exists, else from the
demo's truth (the injected copies).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _cli import invoke
from PIL import Image

from labelclean import __version__
from labelclean.demo.data import make_demo
from labelclean.io.dataset import load_dataset
from labelclean.io.formats import read_index
from labelclean.noise.stage import run_noise
from labelclean.scan.stage import scan_dataset


def pixel_features(root: Path, paths: list[str]) -> np.ndarray:
    """8x8 box-downscaled green-minus-red pixels: the digit's ink against the soil."""
    rows = []
    for path in paths:
        with Image.open(root / path) as img:
            small = np.asarray(img.convert("RGB").resize((8, 8), Image.Resampling.BOX),
                               dtype=np.float32)
        rows.append((small[..., 1] - small[..., 0]).ravel())
    return np.stack(rows)


def make_oof(data: Path, workdir: Path, seed: int) -> pd.DataFrame:
    """5-fold logistic regression OOF for the readable labeled images, labelclean style."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    index = read_index(workdir)
    rows = index[index["readable"] & index["label"].notna()]
    x = pixel_features(data / "train_images", rows["path"].tolist())
    y = rows["label"].to_numpy(int)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    probs = cross_val_predict(model, x, y, cv=folds, method="predict_proba")
    fold = np.zeros(len(y), int)
    for k, (_, test) in enumerate(folds.split(x, y)):
        fold[test] = k
    oof = pd.DataFrame(probs, columns=[str(c) for c in range(10)])
    oof.insert(0, "image_id", rows["image_id"].to_numpy())
    oof.insert(1, "label", y)
    oof.insert(2, "fold", fold)
    return oof


def truth_duplicates(truth: pd.DataFrame) -> pd.DataFrame:
    """duplicates.csv from the injected copies (original kept, copies dropped)."""
    by_id = truth.set_index("image_id")
    rows = []
    for source, group in truth[truth["duplicate_of"] != ""].groupby("duplicate_of"):
        members = [source, *group["image_id"]]
        labels = by_id.loc[members, "given_label"]
        for i, member in enumerate(members):
            rows.append({"group_id": f"g-{source}", "image_id": member,
                         "label": labels[member], "keep": i == 0, "method": "truth",
                         "score": 1.0, "label_conflict": labels.nunique() > 1})
    return pd.DataFrame(rows)


def find_duplicates(data: Path, workdir: Path, truth: pd.DataFrame) -> str:
    done = invoke("dedupe", "--images", str(data / "train_images"), "--labels",
                  str(data / "labels.csv"), "--workdir", str(workdir))
    if done.exit_code == 0 and (workdir / "duplicates.csv").exists():
        return "labelclean dedupe"
    truth_duplicates(truth).to_csv(workdir / "duplicates.csv", index=False)
    return "the demo's truth (injected copies)"


def prf(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float((flags & truth).sum())
    precision = tp / max(flags.sum(), 1)
    recall = tp / max(truth.sum(), 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-12)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="where to build the demo (default: temp)")
    parser.add_argument("--report", type=Path, default=Path("reports/noise.md"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from cleanlab.filter import find_label_issues

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "demo"
        if not (data / "truth.csv").exists():
            make_demo(data, seed=args.seed)
        workdir = data / ".labelclean"
        dataset = load_dataset(data / "train_images", data / "labels.csv", exclude=[workdir])
        scan_dataset(dataset, workdir)
        start = time.perf_counter()
        oof = make_oof(data, workdir, args.seed)
        oof_seconds = time.perf_counter() - start
        oof.to_csv(workdir / "oof.csv", index=False)
        truth = pd.read_csv(data / "truth.csv", dtype={"image_id": str, "duplicate_of": str},
                            keep_default_na=False).set_index("image_id")
        (workdir / "duplicates.csv").unlink(missing_ok=True)
        alone = run_noise(workdir, dataset).result
        groups_from = find_duplicates(data, workdir, truth.reset_index())
        joined = run_noise(workdir, dataset).result

    scored = alone.table[alone.table["scored"]]
    probs = oof.set_index("image_id").loc[scored["image_id"], [str(c) for c in range(10)]]
    theirs = find_label_issues(scored["given_label"].to_numpy(int), probs.to_numpy())
    agree = bool((theirs == scored["is_label_issue"].to_numpy(bool)).all())
    noisy = truth.loc[alone.table["image_id"], "label_noise"].to_numpy(bool)
    acc_model = float((probs.to_numpy().argmax(1) == truth.loc[scored["image_id"],
                                                               "true_label"]).mean())
    lines = [
        "# Label issues on the demo dataset", "",
        f"`python examples/eval_noise.py --seed {args.seed}`", "",
        (f"Demo: {len(alone.table):,} labeled images ({int(noisy.sum())} with a wrong label), "
         f"OOF: 5-fold logistic regression on 8x8 pixels ({oof_seconds:.1f} s, accuracy "
         f"{acc_model:.1%} against the true labels). Duplicate groups from {groups_from}."), "",
        (f"Issues equal to cleanlab's own `find_label_issues` on the same OOF: **{agree}** "
         f"({int(theirs.sum())} issues)."), "",
        "| run | flagged | precision | recall | F1 | relabel rows | relabel accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result, flag in (("cleanlab only", alone, "is_label_issue"),
                               ("with duplicate groups", joined, "label_wrong")):
        t = result.table
        flags = t[flag].to_numpy(bool)
        p, r, f = prf(flags, truth.loc[t["image_id"], "label_noise"].to_numpy(bool))
        relabel = (t["action"] == "relabel").to_numpy()
        acc = float((t.loc[relabel, "suggested_label"].to_numpy(int)
                     == truth.loc[t["image_id"], "true_label"].to_numpy()[relabel]).mean())
        lines.append(f"| {name} | {int(flags.sum())} | {p:.3f} | {r:.3f} | {f:.3f} | "
                     f"{int(relabel.sum())} | {acc:.1%} |")
    counts = joined.counts()
    defaults = ("filter_by", "rank_by", "relabel_threshold", "review_threshold")
    lines += [
        "", ("Flagged: `is_label_issue` (cleanlab only); with duplicate groups, a label "
             "is wrong when cleanlab flags it or, in a group with conflicting labels and a "
             "confident consensus, when it differs from the consensus. Relabel accuracy: the "
             "suggested label equals the true label."), "",
        "Actions with duplicate groups: " + ", ".join(f"{k} {v}" for k, v in
                                                      counts["action"].items()) + ".",
        "Reasons: " + ", ".join(f"`{k}` {v}" for k, v in counts["reason"].items()) + ".", "",
        "Defaults: " + ", ".join(f"{k}={joined.parameters[k]}" for k in defaults) + ".", "",
        (f"Machine: {platform.machine()}, Python {platform.python_version()}, labelclean "
         f"{__version__}, {time.strftime('%Y-%m-%d')}."),
    ]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
