"""METRA throughput at the authors' schedule: each epoch collects 8 trajectories x 200
steps, then takes 50 gradient steps (MLP 1024 x 2, batch 256), on Plane-v0.

Reports environment steps and gradient updates per second over whole epochs (collection,
updates and logging together), after a warm-up that fills the buffer.

    .venv/bin/python benchmarks/bench_metra.py [--epochs 6] [--hidden 1024] [--device auto] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_line, write_section

from workbench.runs import RunStore
from workbench.runs.trainer import RunContext
from workbench.trainers.metra import METRAConfig, METRATrainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()

    store = RunStore(tempfile.mkdtemp(prefix="bench-metra-"))
    record = store.create_run("bench", "metra", {})
    epoch = 8 * 200
    config = METRAConfig(
        hidden=args.hidden, device=args.device, min_buffer=epoch, eval_every=0, checkpoint_every=0
    )
    ctx = RunContext(store, record.id, config)
    trainer = METRATrainer(config, ctx)
    ctx.trainer = trainer
    config.total_steps = 2 * epoch  # warm-up: fill the buffer, take the first updates
    trainer.train()
    config.total_steps = ctx.step + args.epochs * epoch
    start = time.perf_counter()
    trainer.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    steps, updates = args.epochs * epoch, args.epochs * config.updates_per_epoch
    device = trainer.agent.device
    body = f"""## METRA throughput at the authors' schedule (issue 4, {device.type})

Plane-v0; per epoch 8 trajectories x 200 steps then 50 updates; MLP {args.hidden} x 2, batch 256;
{args.epochs} timed epochs after 2 warm-up epochs; device {device}, {torch.get_num_threads()} torch threads.
Command: `.venv/bin/python benchmarks/bench_metra.py --epochs {args.epochs} --hidden {args.hidden} --device {args.device}`
Machine: {machine_line()}

| env steps/s | updates/s | seconds per epoch |
|---:|---:|---:|
| {steps / seconds:,.0f} | {updates / seconds:,.1f} | {seconds / args.epochs:.2f} |"""
    print(body)
    if not args.no_write:
        write_section(f"metra_{device.type}", body)


if __name__ == "__main__":
    main()
