"""Shared fixtures: a small demo dataset, a CLI runner and the example scripts."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> object:
    """A 300-image demo dataset (with noise, duplicates and two broken files), built once.

    Treat it as read-only: copy it (``tmp_path``) before writing into it.
    """
    from labelclean.demo.data import make_demo

    return make_demo(tmp_path_factory.mktemp("demo") / "data", n_images=300, n_exact=20,
                     n_near=40, seed=1)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli(runner, monkeypatch, tmp_path):
    """Run ``labelclean ARGS`` in ``tmp_path``; returns the click Result."""
    from labelclean.cli.main import app

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str | Path):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def example(monkeypatch, tmp_path):
    """``example(NAME)``: the script ``examples/NAME.py`` as a freshly imported module, to call
    its ``main(argv)`` in this process (in ``tmp_path``, so relative defaults land there)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.chdir(tmp_path)

    def load(name: str):
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray of two CPUs for the whole session (starting one costs seconds)."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    yield ray
    ray.shutdown()
