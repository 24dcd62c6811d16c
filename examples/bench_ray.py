"""Ray backend against the local backend on one machine: scan and embed, side by side.

    python examples/bench_ray.py [--n 2000] [--embed-n 400] [--rounds 3] [--out reports/ray.md]

Needs Ray (pip install "labelclean[ray]"). Generates ``n`` synthetic 512x384 JPEGs (cached
under --data), starts one local Ray on this machine's cores, warms it with a small run,
then alternates the two backends in rounds (local, ray, local, ray, ...) so that the load
of the machine falls on both alike, and reports the median time of each and their ratio.
Ray's start-up (seconds, once per cluster) is reported apart: a throughput ratio is about
a running cluster. Memory: the peak resident memory of the process tree (this process and
its children: the pool's processes, or the local Ray's raylet, object store and workers)
above its level before the run, sampled every 0.1 s, and this process's own peak.
Embedding uses a random-weight resnet10t at 64 px on the CPU (no GPU here).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from labelclean import __version__
from labelclean.demo.data import make_photo_folder
from labelclean.embed.stage import prepare_embedding
from labelclean.io.dataset import load_dataset
from labelclean.scan.stage import scan_dataset

TINY = dict(model="resnet10t", pretrained=False, image_size=64)
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> int:
    """Resident bytes of process ``root`` and all its descendants (from /proc)."""
    parent, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            parent[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(p for p, pp in parent.items() if pp == pid)
    return total


class PeakMemory:
    """The peak of :func:`_tree_rss` of this process while the block runs, above its start."""

    def __enter__(self) -> PeakMemory:
        self.base = self.peak = _tree_rss(os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, _tree_rss(os.getpid()))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss(os.getpid()))

    @property
    def above(self) -> int:
        return self.peak - self.base


def _self_peak() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


SCAN_FILES = ("index.csv", "hashes.csv", "thumbs.npy", "quality.csv")


def _scan(dataset, backend: str) -> tuple[float, int, dict[str, bytes]]:
    """(seconds, memory above the start, the scan's files' bytes)."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-ray-{backend}-"))
    try:
        with PeakMemory() as mem:
            start = time.perf_counter()
            scan_dataset(dataset, work, backend=backend, force=True)
            seconds = time.perf_counter() - start
        files = {name: (work / name).read_bytes() for name in SCAN_FILES}
    finally:
        shutil.rmtree(work)
    return seconds, mem.above, files


def _embed(scanned: Path, backend: str) -> tuple[float, int, np.ndarray]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-ray-embed-{backend}-"))
    try:
        for name in ("index.csv", "hashes.csv", "thumbs.npy", "quality.csv"):
            shutil.copy(scanned / name, work / name)
        shutil.copytree(scanned / "stages", work / "stages")
        with PeakMemory() as mem:
            job = prepare_embedding(work, backend=backend, force=True, **TINY)
            start = time.perf_counter()
            job.run()
            seconds = time.perf_counter() - start
        array = np.load(work / "embeddings" / "resnet10t.npy").astype(np.float32)
    finally:
        shutil.rmtree(work)
    return seconds, mem.above, array


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--embed-n", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "lc-photos")
    parser.add_argument("--out", type=Path, default=Path("reports/ray.md"))
    args = parser.parse_args(argv)

    import ray

    from labelclean.backends.ray import connect

    make_photo_folder(args.data, args.n)
    dataset = load_dataset(args.data)
    start = time.perf_counter()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                 log_to_driver=False,
                 configure_logging=False)
    connect()
    startup = time.perf_counter() - start
    small = load_dataset(args.data, files=sorted(r.path for r in dataset.records)[:64])
    start = time.perf_counter()
    _scan(small, "ray")  # Ray Data's first run starts its workers
    warmup = time.perf_counter() - start

    scan = {"local": [], "ray": []}
    scan_mem = {"local": [], "ray": []}
    files = {}
    for _ in range(args.rounds):
        for backend in ("local", "ray"):
            seconds, mem, files[backend] = _scan(dataset, backend)
            scan[backend].append(seconds)
            scan_mem[backend].append(mem)
            print(f"scan {backend}: {seconds:.2f} s, +{mem / 2**20:.0f} MiB", flush=True)

    sub = load_dataset(args.data, files=sorted(r.path for r in dataset.records)[:args.embed_n])
    scanned = Path(tempfile.mkdtemp(prefix="bench-ray-scanned-"))
    scan_dataset(sub, scanned)
    embed = {"local": [], "ray": []}
    embed_mem = {"local": [], "ray": []}
    arrays = {}
    for _ in range(max(1, args.rounds - 1)):
        for backend in ("local", "ray"):
            seconds, mem, arrays[backend] = _embed(scanned, backend)
            embed[backend].append(seconds)
            embed_mem[backend].append(mem)
            print(f"embed {backend}: {seconds:.2f} s, +{mem / 2**20:.0f} MiB", flush=True)
    shutil.rmtree(scanned)
    diff = float(np.abs(arrays["local"] - arrays["ray"]).max())
    differ = [name for name in SCAN_FILES if files["local"][name] != files["ray"][name]]
    if started:
        ray.shutdown()

    def row(stage, times, mems, n):
        lm, rm = statistics.median(times["local"]), statistics.median(times["ray"])
        return (f"| {stage} | {n:,} | {lm:.2f} ({n / lm:,.0f}/s) | {rm:.2f} ({n / rm:,.0f}/s) "
                f"| {lm / rm:.2f} | {max(mems['local']) / 2**20:,.0f} | "
                f"{max(mems['ray']) / 2**20:,.0f} |")

    cores = os.cpu_count()
    text = "\n".join([
        "# Ray backend against the local backend, one machine", "",
        f"`python examples/bench_ray.py --n {args.n} --embed-n {args.embed_n} "
        f"--rounds {args.rounds}`", "",
        f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, "
        f"Ray {ray.__version__}, labelclean {__version__}, {time.strftime('%Y-%m-%d %H:%M')}; "
        f"load average at the end {os.getloadavg()[0]:.1f} (other jobs ran at the same time).",
        "",
        "Median seconds of the rounds (local and ray alternated); ratio = local time / ray "
        "time (throughput of ray relative to local); memory: peak resident memory of the "
        "process tree above its level before the run, MiB.", "",
        "| stage | images | local s | ray s | ray/local throughput | local MiB | ray MiB |",
        "|---|---|---|---|---|---|---|",
        row("scan (512x384 JPEG)", scan, scan_mem, args.n),
        row("embed (resnet10t 64 px, CPU)", embed, embed_mem, args.embed_n), "",
        f"Rounds, scan local: {', '.join(f'{t:.2f}' for t in scan['local'])}; ray: "
        f"{', '.join(f'{t:.2f}' for t in scan['ray'])}. Embed local: "
        f"{', '.join(f'{t:.2f}' for t in embed['local'])}; ray: "
        f"{', '.join(f'{t:.2f}' for t in embed['ray'])}.", "",
        f"Ray start-up (ray.init, once per cluster): {startup:.1f} s; first Ray Data run "
        f"(64 images, starts the workers): {warmup:.1f} s. Largest difference between the "
        f"two backends' embeddings (float16 files): {diff:.2e}. Scan files that differ "
        f"between the backends: {', '.join(differ) or 'none (byte-identical)'}. "
        f"This process's own peak "
        f"resident memory over the whole benchmark: {_self_peak() / 2**20:,.0f} MiB.", ""])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
