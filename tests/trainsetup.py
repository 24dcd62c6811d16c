"""A small work directory ready for 'labelclean train': scanned, deduplicated and cleaned
(noise from synthetic out-of-fold probabilities that favour the true labels)."""

from __future__ import annotations

from pathlib import Path

from tests.noisefiles import demo_oof

TOML = """[dataset]
images = "data/train_images"
labels = "data/labels.csv"
workdir = "work"
"""


def prepare(root: Path):
    """(the demo, the project file) of a 150-image, 32 px demo under ``root``, with
    index.csv, duplicates.csv, oof.csv, manifest.csv and clean.csv in ``root/work``."""
    from labelclean.demo.data import make_demo
    from labelclean.pipeline.stages import get_stage, load_project

    demo = make_demo(root / "data", n_images=150, n_exact=8, n_near=8, image_size=32, seed=3)
    config = root / "labelclean.toml"
    config.write_text(TOML)
    project = load_project(config)
    get_stage("scan").run(project)
    get_stage("dedupe").run(project)
    oof = root / "synthetic_oof.csv"
    demo_oof(demo).to_csv(oof, index=False)
    noise = get_stage("noise")
    noise.run(project, noise.resolve(project, {"oof": (str(oof),)}))
    return demo, config


def project_of(config: Path, **stages):
    """The project of ``config`` with ``stages`` tables (e.g. ``train={"epochs": 1}``)."""
    from labelclean.pipeline.stages import load_project

    project = load_project(config)
    project.stages.update(stages)
    return project
