"""Embedding speed: the whole embed stage against the model's forward pass alone.

    python examples/bench_embed.py [--n 500] [--model convnext_nano] [--batch-size 32]
                                   [--workers N] [--rounds 2] [--out reports/embed.md]

Generates ``n`` synthetic 512x384 JPEGs (once, cached under --data), scans them, then
measures, alternating in one run so that both see the same machine load:

* pipeline: ``prepare_embedding(...).run()`` - read, decode (worker processes), resize,
  crop, normalise, forward, L2-normalise and write the float16 memmap rows;
* forward only: the same model on pre-made normalised tensors of the same batch size and
  resolution, with the same torch threads.

Random-init weights (``pretrained=False``): the speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labelclean import __version__
from labelclean.demo.data import make_photo_folder
from labelclean.embed.stage import default_workers, prepare_embedding
from labelclean.io.dataset import load_dataset
from labelclean.models.backbones import DEFAULT_BACKBONE, build_encoder
from labelclean.scan.stage import scan_dataset


def forward_only(encoder, n: int, batch_size: int, threads: int) -> float:
    """Images/s of the model alone on pre-made tensors."""
    import torch

    torch.set_num_threads(threads)
    x = torch.randn(batch_size, *encoder.input_size)
    batches = -(-n // batch_size)
    with torch.inference_mode():
        encoder.model(x[:2])
        start = time.perf_counter()
        for _ in range(batches):
            encoder.model(x)
        return batches * batch_size / (time.perf_counter() - start)


def pipeline(encoder, work: Path, images: Path, batch_size: int, workers: int,
             threads: int) -> float:
    """Images/s of the embed stage (decode to written rows), output file removed first."""
    shutil.rmtree(work / "embeddings", ignore_errors=True)
    job = prepare_embedding(work, images_root=images, encoder=encoder, batch_size=batch_size,
                            workers=workers, threads=threads)
    start = time.perf_counter()
    result = job.run()
    seconds = time.perf_counter() - start
    assert result.computed == len(job.ids) and not result.unreadable
    return result.computed / seconds


def cli_seconds(work: Path, images: Path, model: str, batch_size: int) -> float:
    """Wall time of the ``labelclean embed`` command itself, start-up and model build included."""
    shutil.rmtree(work / "embeddings", ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "labelclean", "embed", "--workdir", str(work),
                    "--images", str(images), "--model", model, "--no-pretrained",
                    "--device", "cpu", "--batch-size", str(batch_size)], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def bench(args) -> dict:
    make_photo_folder(args.data, args.n)
    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    scan_dataset(load_dataset(args.data), work)
    encoder = build_encoder(args.model, pretrained=False, device="cpu")
    import torch

    threads = args.threads or torch.get_num_threads()
    workers = default_workers("cpu") if args.workers is None else args.workers
    fwd, pipe = [], []
    for _ in range(args.rounds):
        fwd.append(forward_only(encoder, args.n, args.batch_size, threads))
        pipe.append(pipeline(encoder, work, args.data, args.batch_size, workers, threads))
    cli = cli_seconds(work, args.data, args.model, args.batch_size)
    shutil.rmtree(work)
    return {"cli_seconds": cli, "forward": max(fwd), "pipeline": max(pipe), "fwd_all": fwd,
            "pipe_all": pipe,
            "model": encoder.name, "input": encoder.input_size, "workers": workers,
            "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--model", default=DEFAULT_BACKBONE)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", type=Path,
                        default=Path(tempfile.gettempdir()) / "lc-photos-500")
    parser.add_argument("--out", type=Path, default=Path("reports/embed.md"))
    args = parser.parse_args()
    r = bench(args)
    ratio = r["pipeline"] / r["forward"]
    rounds = ", ".join(f"{f:.1f}/{p:.1f}" for f, p in zip(r["fwd_all"], r["pipe_all"]))
    text = (
        f"# Embedding speed (CPU)\n\n`python examples/bench_embed.py --n {args.n} "
        f"--batch-size {args.batch_size} --rounds {args.rounds}`\n\n"
        f"| model | input | batch | torch threads | decode workers | forward only (img/s) "
        f"| whole embed stage (img/s) | ratio |\n|---|---|---|---|---|---|---|---|\n"
        f"| {r['model']} (random init) | {r['input'][1]}x{r['input'][2]} | {args.batch_size} "
        f"| {r['threads']} | {r['workers']} | {r['forward']:.1f} | {r['pipeline']:.1f} "
        f"| {ratio:.0%} |\n\n"
        f"{args.n:,} synthetic 512x384 JPEGs. Best of {args.rounds} rounds, forward and "
        f"pipeline alternating (per round, forward/pipeline img/s: {rounds}). The embed "
        "stage reads, decodes and resizes in worker processes, normalises each batch, runs "
        "the model under `torch.inference_mode`, L2-normalises and writes float16 rows to "
        "the memmap. Model loading is not included in either figure; the whole command, "
        f"`labelclean embed --no-pretrained --batch-size {args.batch_size}` on the same files "
        f"(Python start-up, imports and model build included), took {r['cli_seconds']:.1f} s "
        f"({args.n / r['cli_seconds']:.1f} img/s).\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, labelclean {__version__}, {time.strftime('%Y-%m-%d')}.\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
