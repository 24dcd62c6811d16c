"""Hand-made stage outputs for the report tests, following the work-directory contract.

The report reads ``manifest.csv``, ``duplicates.csv``, ``oof.csv`` and ``summary.json``;
these helpers write them from a scanned demo dataset and its ``truth.csv`` so the report
can be tested without running the stages that normally produce them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from labelclean.io.formats import read_index

N_CLASSES = 10


def fake_manifest(index: pd.DataFrame, truth: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A manifest: noisy labels relabelled, copies dropped, unreadable dropped, some review."""
    rng = np.random.default_rng(seed)
    t = truth.set_index("image_id")
    rows = []
    group_of = _group_ids(truth)
    for rec in index.itertuples(index=False):
        given = str(rec.label)
        info = t.loc[rec.image_id] if rec.image_id in t.index else None
        row = dict(image_id=rec.image_id, path=rec.path, given_label=given,
                   suggested_label=given, action="keep", reason="",
                   label_quality=round(float(rng.uniform(0.6, 1.0)), 4),
                   is_label_issue=False, duplicate_group=group_of.get(rec.image_id, ""))
        if not rec.readable:
            row.update(action="drop", reason="unreadable", label_quality=0.0)
        elif info is not None and bool(info["label_noise"]):
            row.update(suggested_label=str(info["true_label"]), action="relabel",
                       reason="label_issue", is_label_issue=True,
                       label_quality=round(float(rng.uniform(0.01, 0.2)), 4))
        elif info is not None and str(info["duplicate_of"]) not in ("", "nan"):
            row.update(action="drop", reason="duplicate")
        elif rng.random() < 0.05:
            row.update(action="review", reason="low_confidence",
                       label_quality=round(float(rng.uniform(0.2, 0.4)), 4))
        if row["duplicate_group"] != "" and "duplicate" not in row["reason"]:
            row["reason"] = ";".join(r for r in (row["reason"], "duplicate") if r)
            if row["action"] == "keep":
                row["reason"] = ""
        rows.append(row)
    return pd.DataFrame(rows)


def _group_ids(truth: pd.DataFrame) -> dict[str, str]:
    groups: dict[str, str] = {}
    copies = truth[truth["duplicate_of"].fillna("").astype(str) != ""]
    for n, (original, members) in enumerate(copies.groupby("duplicate_of", sort=True)):
        for image_id in [original, *members["image_id"]]:
            groups[image_id] = f"g{n:04d}"
    return groups


def fake_duplicates(manifest: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """duplicates.csv from the manifest's groups: the original kept, copies not."""
    kind = dict(zip(truth["image_id"], truth["duplicate_kind"].fillna("")))
    rows = []
    for group_id, members in manifest[manifest["duplicate_group"] != ""].groupby(
            "duplicate_group", sort=True):
        conflict = members["given_label"].nunique() > 1
        for m in members.itertuples(index=False):
            exact = str(kind.get(m.image_id, "")).startswith("exact")
            rows.append(dict(group_id=group_id, image_id=m.image_id, label=m.given_label,
                             keep=m.action != "drop", method="sha256" if exact else "phash",
                             score=1.0 if exact or m.action != "drop" else 0.94,
                             label_conflict=conflict))
    return pd.DataFrame(rows)


def fake_oof(manifest: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Out-of-fold probabilities peaking on the suggested label."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(N_CLASSES, 0.3), size=len(manifest)) * 0.3
    for i, label in enumerate(manifest["suggested_label"]):
        probs[i, int(label)] += 0.7
    table = pd.DataFrame({"image_id": manifest["image_id"], "label": manifest["given_label"],
                          "fold": np.arange(len(manifest)) % 5})
    for k in range(N_CLASSES):
        table[str(k)] = probs[:, k].round(5)
    return table


def fake_summary(manifest: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """summary.json: counts, noise rate per class, noise matrix (rows = given label)."""
    t = truth.dropna(subset=["given_label"])
    matrix = np.zeros((N_CLASSES, N_CLASSES), dtype=int)
    for given, true in zip(t["given_label"].astype(int), t["true_label"].astype(int)):
        matrix[given, true] += 1
    rates = {str(k): round(1 - matrix[k, k] / max(matrix[k].sum(), 1), 4)
             for k in range(N_CLASSES)}
    reasons = manifest["reason"].str.split(";").explode()
    return {
        "counts": {"action": manifest["action"].value_counts().to_dict(),
                   "reason": reasons[reasons != ""].value_counts().to_dict()},
        "noise_rate_per_class": rates,
        "noise_matrix": {"classes": list(range(N_CLASSES)),
                         "matrix": (matrix / np.maximum(matrix.sum(axis=0), 1)).tolist()},
        "confident_joint": {"classes": list(range(N_CLASSES)), "matrix": matrix.tolist()},
        "n_label_issues": int(manifest["is_label_issue"].sum()),
        "parameters": {"method": "hand-made for tests"},
        "versions": {"labelclean": "test"},
    }


def write_fake_results(workdir: Path, truth_csv: Path, *, stages=("manifest", "duplicates",
                                                                   "oof", "summary")) -> dict:
    """Write the chosen stage outputs into ``workdir``; returns the tables written."""
    index = read_index(workdir)
    truth = pd.read_csv(truth_csv, dtype={"image_id": str, "duplicate_of": str})
    manifest = fake_manifest(index, truth)
    written: dict = {"manifest": manifest}
    if "manifest" in stages:
        manifest.to_csv(workdir / "manifest.csv", index=False)
    if "duplicates" in stages:
        written["duplicates"] = fake_duplicates(manifest, truth)
        written["duplicates"].to_csv(workdir / "duplicates.csv", index=False)
    if "oof" in stages:
        written["oof"] = fake_oof(manifest)
        written["oof"].to_csv(workdir / "oof.csv", index=False)
    if "summary" in stages:
        written["summary"] = fake_summary(manifest, truth)
        (workdir / "summary.json").write_text(json.dumps(written["summary"], indent=1))
    return written


def write_synthetic_findings(work: Path, images: Path, n: int, *, n_groups: int = 1000,
                             seed: int = 0) -> None:
    """A work directory with ``n`` flagged images (all showing one real picture).

    Writes ``index.csv``, ``manifest.csv``, ``oof.csv``, ``duplicates.csv`` and
    ``summary.json`` for a large-scale test of the report; ``images`` gets one JPEG.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    images.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (96, 64), (90, 140, 60)).save(images / "same.jpg", quality=90)
    work.mkdir(parents=True, exist_ok=True)
    ids = [f"img_{i:07d}.jpg" for i in range(n)]
    given = rng.integers(0, N_CLASSES, n)
    suggested = np.where(rng.random(n) < 0.6, rng.integers(0, N_CLASSES, n), given)
    actions = np.where(suggested != given, "relabel", rng.choice(["drop", "review"], n))
    pd.DataFrame({"image_id": ids, "path": "same.jpg", "label": given, "readable": True,
                  "error": "", "width": 96, "height": 64, "mode": "RGB", "format": "JPEG",
                  "bytes": 1000, "sha256": "0" * 64}).to_csv(work / "index.csv", index=False)
    manifest = pd.DataFrame({
        "image_id": ids, "path": "same.jpg", "given_label": given, "suggested_label": suggested,
        "action": actions, "reason": np.where(actions == "relabel", "label_issue",
                                              "low_confidence;duplicate"),
        "label_quality": rng.random(n).round(4), "is_label_issue": actions == "relabel",
        "duplicate_group": ""})
    manifest.to_csv(work / "manifest.csv", index=False)
    oof = fake_oof(manifest.astype({"suggested_label": str}), seed=seed)
    oof.to_csv(work / "oof.csv", index=False)
    members = rng.choice(n, size=(n_groups, 2), replace=False)
    pd.DataFrame({"group_id": np.repeat(np.arange(n_groups), 2),
                  "image_id": [ids[i] for i in members.ravel()],
                  "label": given[members.ravel()], "keep": np.tile([True, False], n_groups),
                  "method": "phash", "score": 0.95,
                  "label_conflict": np.repeat(given[members[:, 0]] != given[members[:, 1]], 2)}
                 ).to_csv(work / "duplicates.csv", index=False)
    reasons = manifest["reason"].str.split(";").explode()
    (work / "summary.json").write_text(json.dumps({
        "counts": {"action": manifest["action"].value_counts().to_dict(),
                   "reason": reasons.value_counts().to_dict()},
        "noise_rate_per_class": {str(k): 0.1 for k in range(N_CLASSES)},
        "noise_matrix": {"classes": list(range(N_CLASSES)),
                         "matrix": (np.eye(N_CLASSES) * 0.9 + 0.01).tolist()},
        "confident_joint": {"classes": list(range(N_CLASSES)),
                            "matrix": (np.eye(N_CLASSES) * 90 + 1).tolist()},
        "n_label_issues": int((actions == "relabel").sum()), "parameters": {}, "versions": {}}))
