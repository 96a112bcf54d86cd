"""Moderation quality and speed on the bundled model: forget rate and kept-class Fréchet distance
before and after, wall time and steps per second, for each forget set and method.

    python benchmarks/moderation.py                       # the full table (about 1 h on 2 CPU cores)
    python benchmarks/moderation.py --forget 7 --methods obtuse --set forget_t_max=0.6
    python benchmarks/moderation.py --forget 7x10 --methods obtuse  # ten sevens, no labels

A forget set written `CxN` is N bundled images of class C (a fixed draw) with no class labels used:
a forget detector trained on those N images against the whole bundled data filters the retain set,
as the studio does for drawn or dropped forget sets. The class is used only to measure.

Prints a Markdown table; with --json FILE also appends one JSON object per row to FILE.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch

from engine.checkpoint import load_checkpoint
from engine.data import bundled_tensors
from engine.detector import ClassJudge, filter_retain, iter_train_detector
from engine.metrics import iter_evaluate
from engine.moderation import iter_moderate, preset
from engine.objectives import METHODS
from engine.sampling import SamplerConfig, run
from resources import BASE_MODEL


def parse_override(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(value.lower(), value)


def few_shot_sets(forget_class: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """N images of one class as the forget set; the bundled data minus what a detector flags as the retain set."""
    images, labels = bundled_tensors()
    members = images[labels == forget_class]
    forget = members[torch.randperm(len(members), generator=torch.Generator().manual_seed(seed))[:count]]
    detector = run(iter_train_detector(forget, images))
    retain = filter_retain(images, detector)
    left = int(ClassJudge([forget_class]).verdicts(retain).sum())
    note = (f"{{{forget_class}x{count}}}: detector kept {len(retain):,} of {len(images):,} bundled images as retain "
            f"images, {left} of them look like a {forget_class} to the classifier "
            f"(held-out detector accuracy: forget {detector.accuracy['forget']:.0%}, retain {detector.accuracy['retain']:.0%})")
    return forget, retain, note


def evaluate(model, forget, count, seed, sampler):
    return run(iter_evaluate(model, forget, count, seed, sampler))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(BASE_MODEL))
    parser.add_argument("--forget", nargs="+", default=["7", "3,8", "7x10"],
                        help="forget sets: classes joined by commas, or CxN for N images of class C without labels")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--n", type=int, default=1000, help="samples per evaluation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation samples")
    parser.add_argument("--sampler-steps", type=int, default=None)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override moderation settings")
    parser.add_argument("--json", metavar="FILE", help="append one JSON object per row to FILE")
    args = parser.parse_args()

    original = load_checkpoint(args.checkpoint)
    sampler = SamplerConfig(sampler="ddim", steps=args.sampler_steps)
    overrides = dict(parse_override(item) for item in args.set)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n} samples ({sampler.sampler}, "
          f"{sampler.step_count} steps), settings: preset {args.preset} {overrides or ''}\n")
    rows = []
    print("| forget | method | forget rate before | after | Fréchet (kept) before | after | change | wall time | steps/s |")
    print("|---|---|---|---|---|---|---|---|---|")

    for forget_text in args.forget:
        if "x" in forget_text:
            forget_class, count = (int(value) for value in forget_text.split("x"))
            forget_classes = [forget_class]
            forget, retain, note = few_shot_sets(forget_class, count, args.seed)
            rows.append(note)
        else:
            forget_classes = [int(value) for value in forget_text.split(",")]
            forget, _ = bundled_tensors(classes=forget_classes)
            retain, _ = bundled_tensors(exclude=forget_classes)
        before = evaluate(original, forget_classes, args.n, args.seed, sampler)
        rows.append(f"original model: {before.recognisable:.1%} recognisable (probability >= 0.9), class shares "
                    + " ".join(f"{digit}:{share:.1%}" for digit, share in enumerate(before.histogram)))
        for method in args.methods:
            config = replace(preset(args.preset), method=method, **overrides)
            started = time.perf_counter()
            result = run(iter_moderate(original, forget, retain, config))
            wall = time.perf_counter() - started
            after = evaluate(result.model, forget_classes, args.n, args.seed, sampler)
            change = after.frechet_kept / before.frechet_kept - 1
            print(f"| {{{forget_text}}} | {method} | {before.forget_rate:.1%} | {after.forget_rate:.1%} | "
                  f"{before.frechet_kept:.2f} | {after.frechet_kept:.2f} | {change:+.0%} | {wall:.0f} s | "
                  f"{result.steps_done / wall:.2f} |", flush=True)
            if args.json:
                row = {"forget": forget_classes, "forget_set": forget_text, "method": method, "settings": config.to_dict(),
                       "before": before.to_dict(), "after": after.to_dict(), "wall_s": wall,
                       "steps_per_s": result.steps_done / wall}
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
    print()
    print("\n".join(sorted(set(rows))))


if __name__ == "__main__":
    main()
