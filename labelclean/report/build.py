"""The report stage: one folder with ``index.html`` a person opens from disk to review findings.

``report/index.html`` holds the summary and the figures (rendered by Jinja2 with
autoescaping); the gallery, duplicate groups and unreadable files are drawn by
``assets/report.js`` from ``assets/data.js`` (a script assigning one global, because
browsers do not let a page opened from disk fetch a JSON file). The page builds every
element from data with ``textContent``, loads nothing from the network (its Content
Security Policy forbids it) and exports the reviewed manifest as CSV in the browser.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from labelclean import __version__
from labelclean.io.dataset import parse_labels, sort_classes
from labelclean.io.formats import ACTIONS, OOF_META
from labelclean.io.formats import images_root as scanned_root
from labelclean.io.locations import as_location, image_location
from labelclean.io.workdir import (
    MANIFEST,
    REPORT_DIR,
    atomic_path,
    file_fingerprint,
    fingerprint,
    make_dirs,
    write_text,
)
from labelclean.progress import ProgressFn, report
from labelclean.report.data import (
    ReportInputs,
    counts,
    duplicate_groups,
    encode_columns,
    flagged_order,
    load_inputs,
    quality_values,
    top_probabilities,
    unreadable_rows,
)
from labelclean.report.leaks import leaks_section
from labelclean.report.quality import quality_section
from labelclean.report.thumbnails import DEFAULT_SIZE, ThumbnailStats, make_thumbnails
from labelclean.report.training import training_section

TEMPLATES = Path(__file__).parent / "templates"
STATIC_FILES = ("report.js", "report.css")
DATA_GLOBAL = "LABELCLEAN_DATA"
#: With more classes, the noise-matrix heatmap shows the ones with the most noise.
HEATMAP_CLASSES = 30
#: With more classes, the noise-rate table lists the classes with the highest rates.
RATE_ROWS = 30
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                   "\u2029": "\\u2029"}


@dataclass
class ReportResult:
    """Where the report was written and what it holds."""

    path: Path
    n_images: int = 0
    n_flagged: int = 0
    n_groups: int = 0
    n_unreadable: int = 0
    missing: list[dict[str, str]] = field(default_factory=list)
    thumbnails: ThumbnailStats = field(default_factory=ThumbnailStats)


def script_json(obj: Any) -> str:
    """``obj`` as JSON that is safe inside a ``<script>`` element or a script file.

    ``<``, ``>``, ``&`` and the line separators U+2028/U+2029 are written as ``\\u`` escapes
    (they only ever occur inside JSON strings), so no value can close the script or start
    markup; NaN is refused.
    """
    text = json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    for char, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def build_report(workdir: str | os.PathLike, images_root: str | os.PathLike | None, *,
                 out_dir: str | os.PathLike | None = None,
                 class_names: dict[str, str] | None = None, oof: str | os.PathLike | None = None,
                 thumb_size: int = DEFAULT_SIZE, workers: int | None = None,
                 force: bool = False, inputs: ReportInputs | None = None,
                 progress: ProgressFn | None = None) -> ReportResult:
    """Write the HTML report of ``workdir`` to ``out_dir`` (default ``<workdir>/report``).

    ``images_root`` is the images folder the index's paths are relative to (None: the one
    recorded by the scan). Thumbnails of flagged and duplicate images are made in parallel
    (``workers`` processes) and reused while up to date (``force`` remakes them).
    ``inputs`` are the work directory's files when already read with
    :func:`~labelclean.report.data.load_inputs` (then ``oof`` and ``class_names`` are unused).
    """
    workdir = Path(workdir)
    if inputs is None:
        inputs = load_inputs(workdir, oof=oof, class_names=class_names)
    root = (as_location(images_root) if images_root is not None
            else scanned_root(workdir, required=True))
    out = Path(out_dir) if out_dir is not None else workdir / REPORT_DIR
    assets = out / "assets"
    make_dirs(assets / "figures")
    report(progress, 0, 3, "report: thumbnails")
    thumbs, stats = _thumbnails(inputs, root, assets / "thumbs", thumb_size, workers, force,
                                progress)
    report(progress, 1, 3, "report: figures")
    figures = _figures(inputs, assets / "figures")
    training = training_section(workdir, assets / "figures")
    quality = quality_section(workdir, root, assets, size=thumb_size, workers=workers,
                              force=force, outliers_from=(inputs.summary or {}).get(
                                  "quality", {}).get("outliers_from"))
    report(progress, 2, 3, "report: page")
    payload = _payload(inputs, thumbs, _images_base(root, out), workdir)
    write_text(f"window.{DATA_GLOBAL} = {script_json(payload)};\n", assets / "data.js")
    for name in STATIC_FILES:
        with atomic_path(assets / name) as tmp:
            shutil.copyfile(TEMPLATES / name, tmp)
    page = _render(inputs, payload, figures, training, quality, leaks_section(workdir))
    write_text(page, out / "index.html")
    report(progress, 3, 3, "report: page")
    return ReportResult(path=out / "index.html", n_images=len(inputs.index),
                        n_flagged=len(payload["flagged"]), n_groups=len(payload["groups"]),
                        n_unreadable=len(payload["unreadable"]), missing=inputs.missing,
                        thumbnails=stats)


def _images_base(root: Path, out: Path) -> str:
    """URL of the images folder relative to the report folder, ending in '/'."""
    try:
        rel = Path(os.path.relpath(root.resolve(), out.resolve())).as_posix()
        return quote(rel) + "/"
    except ValueError:  # another drive
        return root.resolve().as_uri() + "/"


def _thumbnails(inputs: ReportInputs, root: Path, out: Path, size: int, workers: int | None,
                force: bool, progress: ProgressFn | None) -> tuple[dict[str, str],
                                                                   ThumbnailStats]:
    readable = inputs.index.loc[inputs.index["readable"], ["image_id", "path"]]
    path_of = dict(zip(readable["image_id"], readable["path"]))
    wanted: dict[str, Path] = {}
    if inputs.manifest is not None:
        rows = inputs.manifest.iloc[flagged_order(inputs.manifest)]
        wanted.update((p, image_location(root, p)) for i, p in zip(rows["image_id"], rows["path"])
                      if i in path_of)
    if inputs.duplicates is not None:
        wanted.update((path_of[i], image_location(root, path_of[i]))
                      for i in inputs.duplicates["image_id"] if i in path_of)
    return make_thumbnails(wanted, out, size=size, workers=workers, force=force,
                           progress=progress)


def _figures(inputs: ReportInputs, out: Path) -> dict[str, str]:
    from labelclean.noise.matrices import dense_block
    from labelclean.report.figures import label_quality_figure, noise_matrix_figure

    figures: dict[str, str] = {}
    joint = (inputs.summary or {}).get("confident_joint") or {}
    if joint.get("classes") and (joint.get("matrix") or joint.get("cells")):
        block, classes, row_sums = dense_block(joint, HEATMAP_CLASSES)
        labels = [_display(str(c), inputs.class_names) for c in classes]
        noise_matrix_figure(block, labels, out / "noise_matrix.png", row_sums=row_sums,
                            n_classes=len(joint["classes"]))
        figures["noise_matrix"] = "assets/figures/noise_matrix.png"
    if inputs.manifest is not None and len(inputs.manifest):
        label_quality_figure(quality_values(inputs.manifest), inputs.manifest["action"],
                             out / "label_quality.png")
        figures["label_quality"] = "assets/figures/label_quality.png"
    return figures


def _display(label: str, names: dict[str, str]) -> str:
    name = names.get(label)
    return f"{label} · {name}" if name and name != label else label


def _classes(inputs: ReportInputs) -> list[str]:
    """Every class value as text, in the dataset's order."""
    values: list[Any] = list(inputs.index["label"])
    nm = (inputs.summary or {}).get("noise_matrix") or {}
    values += [str(c) for c in nm.get("classes", [])]
    if inputs.manifest is not None:
        values += list(inputs.manifest["given_label"]) + list(inputs.manifest["suggested_label"])
    if inputs.oof is not None:
        values += [c for c in inputs.oof.columns if c not in OOF_META]
    texts = {str(v) for v in values if v is not None and str(v) != ""}
    return [str(v) for v in sort_classes(parse_labels(sorted(texts)))]


def _payload(inputs: ReportInputs, thumbs: dict[str, str], images_base: str,
             workdir: Path) -> dict[str, Any]:
    manifest = inputs.manifest
    flagged = flagged_order(manifest) if manifest is not None else np.array([], dtype=int)
    rows = manifest.iloc[flagged] if manifest is not None else None
    path_of = dict(zip(inputs.index["image_id"], inputs.index["path"]))
    groups = duplicate_groups(inputs.duplicates) if inputs.duplicates is not None else []
    for group in groups:
        for member in group["members"]:
            path = path_of.get(member[0], "")
            member += [thumbs.get(path, ""), path]
    top3 = None
    if inputs.oof is not None and rows is not None:
        top3 = top_probabilities(inputs.oof, rows["image_id"].tolist())
    return {
        "version": __version__,
        "report_id": fingerprint(str(workdir.resolve()),
                                 file_fingerprint(workdir / MANIFEST)),
        "actions": ACTIONS,
        "classes": [[c, inputs.class_names.get(c, "")] for c in _classes(inputs)],
        "images_base": images_base,
        "manifest": encode_columns(manifest) if manifest is not None else None,
        "flagged": flagged.tolist(),
        "thumbs": [thumbs.get(p, "") for p in rows["path"]] if rows is not None else [],
        "top3": top3,
        "groups": groups,
        "unreadable": unreadable_rows(inputs.index),
    }


def _render(inputs: ReportInputs, payload: dict, figures: dict[str, str],
            training: dict | None = None, quality: dict | None = None,
            leaks: dict | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    summary = inputs.summary or {}
    found = counts(inputs.manifest, inputs.summary)
    rates = summary.get("noise_rate_per_class") or {}
    index = inputs.index
    return env.get_template("report.html.j2").render(
        version=__version__, created=time.strftime("%Y-%m-%d %H:%M"),
        n_images=len(index), n_readable=int(index["readable"].sum()),
        n_flagged=len(payload["flagged"]), n_groups=len(payload["groups"]),
        n_conflicts=sum(g["conflict"] for g in payload["groups"]),
        n_unreadable=len(payload["unreadable"]),
        n_label_issues=summary.get("n_label_issues"),
        has_manifest=inputs.manifest is not None, has_oof=inputs.oof is not None,
        actions=_ordered(found["action"], ACTIONS), reasons=_ordered(found["reason"], []),
        rates=[(_display(str(k), inputs.class_names), float(v)) for k, v in
               _top(rates, RATE_ROWS).items()], rates_hidden=max(len(rates) - RATE_ROWS, 0),
        figures=figures, missing=inputs.missing,
        parameters=json.dumps(summary.get("parameters", {}), indent=1, sort_keys=True),
        versions=summary.get("versions", {}), training=training, quality=quality, leaks=leaks,
    )


def _top(rates: dict[str, float], n: int) -> dict[str, float]:
    """``rates`` whole up to ``n`` classes, else the ``n`` highest (in class order)."""
    if len(rates) <= n:
        return rates
    keep = set(sorted(rates, key=lambda k: -float(rates[k]))[:n])
    return {k: v for k, v in rates.items() if k in keep}


def _ordered(found: dict[str, int], first: list[str]) -> list[tuple[str, int, float]]:
    """(name, count, share of the largest) with ``first`` in order, then by count."""
    names = [n for n in first if n in found] + sorted(
        (n for n in found if n not in first), key=lambda n: -found[n])
    top = max(found.values(), default=0) or 1
    return [(n, int(found[n]), int(found[n]) / top) for n in names]
