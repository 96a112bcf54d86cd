"""Inpainting and reconstruction on the bundled model moderated to forget one class.

A fixed, seeded choice of bundled digits is inpainted (bottom half masked) and reconstructed by the
original and the moderated model, and the bundled classifier labels the results. The table gives how
often each model completes forget-class images into the forget class, and how often it completes
kept-class images into their own class.

    python benchmarks/downstream.py                                   # moderates with the default preset first
    python benchmarks/downstream.py --checkpoint-moderated m.safetensors --n 8
    python benchmarks/downstream.py --set forget_weight=0.02 --save-moderated /tmp/m.safetensors

Prints a Markdown table; with --json FILE also appends one JSON object per row to FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, fields, replace

import numpy as np
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.data import bundled_mnist, bundled_tensors, uint8_to_model
from engine.device import pick_device
from engine.downstream import ReconstructionConfig, iter_inpaint, iter_reconstruct
from engine.errors import UserError
from engine.jobs import Finished, Progress
from engine.metrics import Labels
from engine.moderation import PRESETS, ModerationConfig, iter_moderate, preset
from engine.progress_bar import ProgressBar
from engine.sampling import SamplerConfig
from moderation import parse_override
from resources import BASE_MODEL

BUNDLED_PER_CLASS = 500
# Targets: the moderated model completes forget-class images into the forget class at most a third as
# often as the original, and kept-class images into their own class at least 90% as often.
FORGET_TARGET = 1 / 3
KEPT_TARGET = 0.9
# Predictor-corrector steps of inpainting, as for `msgm-studio inpaint`.
INPAINT_STEPS = 100
TASKS = ("inpainting", "reconstruction")
DEFAULT_RECONSTRUCTIONS = ["ode:0.02", "sde:0.5"]


def drive(job, label: str):
    """Run a job generator with a progress bar on stderr and return its result."""
    bar = ProgressBar(label)
    for event in job:
        if isinstance(event, Progress):
            bar.update(event)
        elif isinstance(event, Finished):
            return event.result
    raise RuntimeError(f"{label} ended without a result")


def choose_digits(forget_class: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick `count` bundled digits of the forget class and `count` of the other classes (spread evenly).

    Returns forget images, forget labels, kept images and kept labels, as model tensors and labels.
    """
    images, labels = bundled_mnist()
    generator = np.random.default_rng(seed)
    forget_index = generator.choice(np.flatnonzero(labels == forget_class), size=count, replace=False)
    kept_classes = [digit for digit in range(10) if digit != forget_class]
    kept_index = []
    for position, digit in enumerate(kept_classes):
        share = count // len(kept_classes) + (1 if position < count % len(kept_classes) else 0)
        kept_index.append(generator.choice(np.flatnonzero(labels == digit), size=share, replace=False))
    kept_index = np.concatenate(kept_index)

    def as_tensors(index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return uint8_to_model(images[index][:, None]), torch.from_numpy(labels[index])

    return *as_tensors(forget_index), *as_tensors(kept_index)


def bottom_half_masks(images: torch.Tensor) -> torch.Tensor:
    """Masks with 1 on the known top half and 0 on the bottom half to fill."""
    masks = torch.ones(len(images), 1, *images.shape[-2:])
    masks[:, :, images.shape[-2] // 2 :] = 0
    return masks


def parse_reconstruction(text: str) -> ReconstructionConfig:
    """Read METHOD:T, such as ode:0.02 or sde:0.5, into a ReconstructionConfig."""
    method, _, t = text.partition(":")
    try:
        config = ReconstructionConfig(method=method, t=float(t)) if t else ReconstructionConfig(method=method)
    except ValueError:
        raise UserError(f"--reconstruction {text!r}: the time after the colon must be a number, as in sde:0.5") from None
    config.validate()
    return config


def moderated_model(args: argparse.Namespace, original, overrides: dict):
    """Load the moderated checkpoint given, or moderate `original` to forget the class.

    Returns the moderated model, a description of where it came from, and its moderation settings.
    """
    if args.checkpoint_moderated:
        model = load_checkpoint(args.checkpoint_moderated, original.device)
        moderations = [entry for entry in model.history if entry.get("kind") == "moderation"]
        last = moderations[-1] if moderations else {}
        return model, (f"{args.checkpoint_moderated} ({last.get('method', 'no moderation recorded')}, "
                       f"{last.get('steps_done', '?')} steps, forget set {last.get('forget_set', '?')})"), last.get("settings")

    config = replace(preset(args.preset), **overrides)
    config.validate()
    forget, _ = bundled_tensors(classes=[args.forget_class])
    retain, _ = bundled_tensors(exclude=[args.forget_class])
    started = time.perf_counter()
    result = drive(iter_moderate(original, forget, retain, config, forget_summary=f"bundled class {args.forget_class}"),
                   "moderate")
    wall = time.perf_counter() - started
    if args.save_moderated:
        save_checkpoint(result.model, args.save_moderated)
    return result.model, (f"moderated here with preset {args.preset} {overrides or ''}: {config.method}, "
                          f"{result.steps_done} steps in {wall:.0f} s"), config.to_dict()


def completion_share(predicted: np.ndarray, expected: np.ndarray) -> float:
    return float((predicted == expected).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(BASE_MODEL), help="the original model (default: the bundled one)")
    parser.add_argument("--checkpoint-moderated", metavar="PATH", help="reuse this moderated checkpoint instead of moderating")
    parser.add_argument("--save-moderated", metavar="PATH", help="write the model moderated here to PATH, for reuse")
    parser.add_argument("--forget-class", type=int, default=7, help="the bundled class to forget (default: 7)")
    parser.add_argument("--preset", default="default", choices=list(PRESETS),
                        help="named moderation settings to start from (default: default)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override moderation settings")
    parser.add_argument("--n", type=int, default=200, help="number of forget-class images, and of kept-class images (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image choice and of the samplers (default: 0)")
    parser.add_argument("--inpaint-steps", type=int, default=INPAINT_STEPS,
                        help=f"predictor-corrector steps of inpainting (default: {INPAINT_STEPS})")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS),
                        help="the tasks to measure (default: all)")
    parser.add_argument("--reconstruction", nargs="+", default=DEFAULT_RECONSTRUCTIONS, metavar="METHOD:T",
                        help="reconstruction settings to measure, each a method (ode or sde) and its time t "
                             f"(default: {' '.join(DEFAULT_RECONSTRUCTIONS)})")
    parser.add_argument("--device", help="cpu, cuda or mps (default: the fastest available)")
    parser.add_argument("--json", metavar="FILE", help="append one JSON object per row to FILE")
    args = parser.parse_args()

    if not 1 <= args.n <= BUNDLED_PER_CLASS:
        parser.error(f"--n must be between 1 and {BUNDLED_PER_CLASS}, the number of bundled digits per class")
    if not 0 <= args.forget_class <= 9:
        parser.error("--forget-class must be a digit from 0 to 9")
    if args.inpaint_steps < 1:
        parser.error("--inpaint-steps must be at least 1")
    try:
        reconstructions = [parse_reconstruction(item) for item in args.reconstruction]
    except UserError as error:
        parser.error(str(error))
    overrides = dict(parse_override(item) for item in args.set)
    unknown = sorted(set(overrides) - {item.name for item in fields(ModerationConfig)})
    if unknown:
        parser.error(f"unknown moderation setting(s) {', '.join(unknown)}; see ModerationConfig in engine/moderation.py")
    if args.checkpoint_moderated and (overrides or args.save_moderated):
        parser.error("--set and --save-moderated apply to a moderation run here; leave them out with --checkpoint-moderated")

    try:
        original = load_checkpoint(args.checkpoint, pick_device(args.device))
        moderated, moderated_text, settings = moderated_model(args, original, overrides)
    except UserError as error:
        print(f"downstream.py: error: {error}", file=sys.stderr)
        return 2

    forget_images, _, kept_images, kept_labels = choose_digits(args.forget_class, args.n, args.seed)
    models = {"original": original, "moderated": moderated}
    sampler = SamplerConfig(sampler="pc", steps=args.inpaint_steps)
    tasks = []
    if "inpainting" in args.tasks:
        tasks.append(("inpainting", f"inpainting, bottom half masked (pc, {args.inpaint_steps} steps)", None,
                      lambda model, images: iter_inpaint(model, images, bottom_half_masks(images), args.seed, sampler)))
    if "reconstruction" in args.tasks:
        for reconstruction in reconstructions:
            tasks.append(("reconstruction", f"reconstruction ({reconstruction.method}, t {reconstruction.t}, "
                          f"{reconstruction.steps} steps)", reconstruction,
                          lambda model, images, config=reconstruction: iter_reconstruct(model, images, args.seed, config)))
    forget_expected = np.full(len(forget_images), args.forget_class)
    groups = {
        "forget": (forget_images, forget_expected, f"{len(forget_images)} of class {args.forget_class}",
                   f"completed into {args.forget_class}", "≤", FORGET_TARGET),
        "kept": (kept_images, kept_labels.numpy(), f"{len(kept_images)} of the other classes",
                 "completed into their own class", "≥", KEPT_TARGET),
    }

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {original.device}, seed {args.seed}")
    print(f"moderated model: {moderated_text}\n")
    print("| task | images | measure | original | moderated | moderated / original | target | met |")
    print("|---|---|---|---|---|---|---|---|")
    for task, task_text, reconstruction, make_job in tasks:
        for group, (images, expected, images_text, measure, relation, target) in groups.items():
            shares = {}
            for role, model in models.items():
                results = drive(make_job(model, images), f"{task} {group} {role}")
                shares[role] = completion_share(Labels.of(results).predicted, expected)
            ratio = shares["moderated"] / shares["original"] if shares["original"] > 0 else float("nan")
            ratio_text = "–" if np.isnan(ratio) else f"{ratio:.2f}"
            if relation == "≤":
                met = shares["moderated"] <= target * shares["original"]
            else:
                met = shares["moderated"] >= target * shares["original"]
            print(f"| {task_text} | {images_text} | {measure} | {shares['original']:.1%} | {shares['moderated']:.1%} | "
                  f"{ratio_text} | {relation} {target:.2f} | {'yes' if met else 'no'} |", flush=True)
            if args.json:
                row = {"task": task, "images": group, "count": len(images), "forget_class": args.forget_class,
                       "original": shares["original"], "moderated": shares["moderated"],
                       "ratio": None if np.isnan(ratio) else ratio,
                       "target": f"{relation} {target:.4f}", "met": bool(met), "seed": args.seed,
                       "inpaint_steps": args.inpaint_steps, "reconstruction": asdict(reconstruction) if reconstruction else None,
                       "moderated_model": moderated_text, "moderation_settings": settings}
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
