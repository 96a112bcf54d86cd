"""Cost of one live measurement during moderation (engine.monitor): samples, judge, classifier and score diagnostic.

    python benchmarks/monitor_cost.py                  # counts 8, 16 and 32, five calls each
    python benchmarks/monitor_cost.py --counts 16 --repeats 10

Measures `Monitor.measure` on the bundled model with forget class 7 and the bundled classifier as
the judge, after one warm-up call. Prints a Markdown table of the median seconds per call, split into
the sampling of `count` images and the score diagnostic.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from engine.checkpoint import load_checkpoint
from engine.data import bundled_tensors
from engine.detector import ClassJudge
from engine.monitor import SAMPLE_SEED, SAMPLER_STEPS, Monitor
from engine.sampling import SamplerConfig, iter_sample, run
from resources import BASE_MODEL


def median_seconds(function, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[8, 16, 32], help="samples per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="calls measured per count")
    arguments = parser.parse_args()

    model = load_checkpoint(BASE_MODEL)
    forget, _ = bundled_tensors(classes=[7])
    retain, _ = bundled_tensors(exclude=[7])
    sampler = SamplerConfig(sampler="ddim", steps=SAMPLER_STEPS, eta=1.0)

    print(f"torch threads: {torch.get_num_threads()}\n")
    print("| samples | whole call (s) | sampling (s) | score diagnostic (s) |")
    print("|---|---|---|---|")
    for count in arguments.counts:
        monitor = Monitor(model, forget, retain, ClassJudge([7]), count)
        list(monitor.measure(model, 0))
        whole = median_seconds(lambda: list(monitor.measure(model, 0)), arguments.repeats)
        sampling = median_seconds(lambda: run(iter_sample(model, count, SAMPLE_SEED, sampler)), arguments.repeats)
        probe = median_seconds(lambda: monitor.probe.cosines(model), arguments.repeats)
        print(f"| {count} | {whole:.2f} | {sampling:.2f} | {probe:.2f} |")


if __name__ == "__main__":
    main()
