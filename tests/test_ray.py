"""The Ray backend: the same files as the local backend, resumable, on a local or a
two-process Ray (skipped where Ray is not installed: pip install -e ".[dev,ray]")."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labelclean.config.project import Project
from labelclean.errors import ConfigError
from labelclean.io.dataset import load_dataset
from labelclean.pipeline.stages import STAGES
from labelclean.scan.stage import scan_dataset

SCAN_FILES = ("index.csv", "hashes.csv", "thumbs.npy", "quality.csv")
TINY = dict(model="resnet10t", pretrained=False, image_size=64)


def tiny_set(root: Path, n: int = 40) -> Path:
    """``n`` small JPEGs and PNGs in two class folders, one corrupt file and one empty."""
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (24 + i % 7, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.{'png' if i % 5 == 0 else 'jpg'}")
    (root / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (root / "dog" / "empty.png").write_bytes(b"")
    return root


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> Path:
    return tiny_set(tmp_path_factory.mktemp("tiny") / "images")


def same_files(a: Path, b: Path, names=SCAN_FILES) -> list[str]:
    return [n for n in names if not filecmp.cmp(a / n, b / n, shallow=False)]


# -- without Ray ------------------------------------------------------------------------

def test_run_backend_is_the_default_of_the_per_image_stages():
    project = Project(stages={"run": {"backend": "ray", "ray_address": "h:1"},
                              "embed": {"backend": "local"}})
    scan = STAGES["scan"].resolve(project)
    assert (scan.backend, scan.ray_address) == ("ray", "h:1")
    assert STAGES["embed"].resolve(project).backend == "local"  # its own table wins
    assert STAGES["scan"].resolve(project, {"backend": "local"}).backend == "local"
    assert not hasattr(STAGES["dedupe"].resolve(project), "backend")


def test_unknown_backend_and_missing_ray_are_config_errors(images, tmp_path, monkeypatch):
    dataset = load_dataset(images)
    with pytest.raises(ConfigError, match="`backend` must be one of local, ray"):
        scan_dataset(dataset, tmp_path / "w", backend="spark")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ConfigError, match=r'pip install "labelclean\[ray\]"'):
        scan_dataset(dataset, tmp_path / "w", backend="ray")
    assert not (tmp_path / "w" / "index.csv").exists()


def test_listing_replaces_the_walk(images, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labelclean.io.dataset import list_image_files, read_listing

    files = list_image_files(images)
    pq.write_table(pa.table({"path": files[::-1] + files[:1]}), tmp_path / "l.parquet")
    assert read_listing(tmp_path / "l.parquet") == files  # sorted, each once
    pq.write_table(pa.table({"path": ["../x.jpg"]}), tmp_path / "bad.parquet")
    with pytest.raises(ConfigError, match="inside it"):
        read_listing(tmp_path / "bad.parquet")
    subset = load_dataset(images, files=files[:3])
    assert [r.path for r in subset.records] == files[:3]


def test_every_stage_sees_the_scan_listing_of_the_project_file(images, tmp_path):
    """``[scan] listing``: the project's dataset is the listed files for every stage (noise,
    apply, run), not a walk of the whole folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labelclean.config.project import DatasetSpec
    from labelclean.io.dataset import list_image_files

    files = list_image_files(images)
    pq.write_table(pa.table({"path": files[:3]}), tmp_path / "l.parquet")
    project = Project(dataset=DatasetSpec(images=images), workdir=tmp_path / "w",
                      stages={"scan": {"listing": str(tmp_path / "l.parquet")}})
    assert [r.path for r in project.load_dataset().records] == files[:3]
    assert len(project.load_dataset(tmp_path / "l.parquet").records) == 3
    assert len(Project(dataset=DatasetSpec(images=images)).load_dataset().records) == len(files)


# -- a local Ray ------------------------------------------------------------------------

@pytest.mark.ray
def test_ray_scan_writes_the_local_files_byte_for_byte(ray_session, images, tmp_path):
    dataset = load_dataset(images)
    scan_dataset(dataset, tmp_path / "local", workers=2)
    result = scan_dataset(dataset, tmp_path / "ray", backend="ray")
    assert result.summary["unreadable"] == 2
    assert same_files(tmp_path / "local", tmp_path / "ray") == []
    assert not (tmp_path / "ray" / ".ray").exists()  # the scratch goes with the record


@pytest.mark.ray
@pytest.mark.slow
def test_interrupted_ray_scan_resumes_the_missing_rows(ray_session, images, tmp_path,
                                                       monkeypatch):
    from labelclean.backends import ray as backend

    dataset = load_dataset(images)
    scan_dataset(dataset, tmp_path / "local", workers=1)
    monkeypatch.setattr(backend, "STOP_AFTER", 1)
    monkeypatch.setattr(backend, "BATCH_ROWS", 8)  # several batches of the 42 rows
    with pytest.raises(backend.Interrupted):
        scan_dataset(dataset, tmp_path / "ray", backend="ray")
    assert not (tmp_path / "ray" / "index.csv").exists()
    assert list(backend.scratch_folder(tmp_path / "ray", "scan").glob("part-*.parquet"))
    monkeypatch.setattr(backend, "STOP_AFTER", None)
    asked: list[int] = []
    real = backend.map_listing

    def counting(columns, *args, **kwargs):
        asked.append(len(columns["row"]))
        return real(columns, *args, **kwargs)

    monkeypatch.setattr(backend, "map_listing", counting)
    scan_dataset(dataset, tmp_path / "ray", backend="ray")
    assert 0 < asked[0] < len(dataset)  # only the rows the first run did not finish
    assert same_files(tmp_path / "local", tmp_path / "ray") == []


def _embedded(workdir: Path) -> tuple[np.ndarray, dict]:
    meta = json.loads((workdir / "embeddings" / "resnet10t.json").read_text())
    return np.load(workdir / "embeddings" / "resnet10t.npy"), meta


@pytest.mark.ray
@pytest.mark.slow
def test_ray_embed_equals_local_and_resumes(ray_session, images, tmp_path, monkeypatch):
    from labelclean.backends import ray as backend
    from labelclean.embed.stage import prepare_embedding

    dataset = load_dataset(images)
    for name in ("local", "ray"):
        scan_dataset(dataset, tmp_path / name, workers=1)
    prepare_embedding(tmp_path / "local", workers=0, **TINY).run()
    monkeypatch.setattr(backend, "STOP_AFTER", 1)
    monkeypatch.setattr(backend, "BATCH_ROWS", 8)  # several batches of the 42 rows
    with pytest.raises(backend.Interrupted):
        prepare_embedding(tmp_path / "ray", backend="ray", batch_size=8, **TINY).run()
    _, meta = _embedded(tmp_path / "ray")
    assert meta.get("rows_done")  # a record of the finished rows, beside the prefix
    monkeypatch.setattr(backend, "STOP_AFTER", None)
    job = prepare_embedding(tmp_path / "ray", backend="ray", batch_size=8, **TINY)
    done = job.run()
    assert 0 < done.computed < len(dataset.records)  # the rows done before are not redone
    local, local_meta = _embedded(tmp_path / "local")
    ray, ray_meta = _embedded(tmp_path / "ray")
    np.testing.assert_allclose(ray.astype(np.float32), local.astype(np.float32), atol=2e-3)
    assert ray_meta["unreadable"] == local_meta["unreadable"]
    assert len(ray_meta["unreadable"]) == 2 and "rows_done" not in ray_meta
    assert not (tmp_path / "ray" / ".ray").exists()


# -- a Ray of two processes on loopback ---------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.ray
@pytest.mark.slow
def test_scan_on_a_head_and_a_worker_process(images, tmp_path, cli):
    pytest.importorskip("ray")
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray_cli is None:
        pytest.skip("no ray command")
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    common = ["--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    procs = [subprocess.Popen([ray_cli, "start", "--head", f"--port={port}",
                               "--include-dashboard=false", *common], env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        time.sleep(8)
        procs.append(subprocess.Popen([ray_cli, "start", f"--address=127.0.0.1:{port}",
                                       *common], env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(8)
        if any(p.poll() is not None for p in procs):
            pytest.skip("ray start could not start a head and a worker here")
        local = cli("scan", "--images", images, "--workdir", tmp_path / "local")
        assert local.exit_code == 0, local.output
        done = subprocess.run(
            [sys.executable, "-m", "labelclean", "scan", "--images", str(images),
             "--workdir", str(tmp_path / "ray"), "--backend", "ray",
             "--ray-address", f"127.0.0.1:{port}"], env=env, capture_output=True, text=True,
            timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert same_files(tmp_path / "local", tmp_path / "ray") == []
    finally:
        for p in procs:  # the processes this test started, and theirs
            try:
                os.killpg(p.pid, 15)
            except ProcessLookupError:
                pass
        for p in procs:
            p.wait(timeout=60)


@pytest.mark.ray
@pytest.mark.slow
def test_bench_ray(ray_session, example, tmp_path):
    example("bench_ray").main(["--n", "40", "--embed-n", "20", "--rounds", "1", "--data",
                               str(tmp_path / "photos"), "--out", str(tmp_path / "ray.md")])
    text = (tmp_path / "ray.md").read_text()
    assert "| scan (512x384 JPEG) | 40 |" in text and "none (byte-identical)" in text
