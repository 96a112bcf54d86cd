"""The headless command line: `msgm-studio <command> ...`.

Every command exits with status 2 and one line on stderr for bad input, and leaves no output file
behind when it fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from engine import __version__
from engine.checkpoint import PROCESS_UMASK
from engine.errors import UserError
from engine.jobs import Finished, Message, Progress
from engine.progress_bar import ProgressBar

log = logging.getLogger(__name__)


def _drive(job, label: str, quiet: bool = False):
    """Run a job generator, drawing its progress on stderr; return the result of its Finished event."""
    bar = None if quiet else ProgressBar(label)
    result = None
    for event in job:
        if isinstance(event, Progress) and bar is not None:
            bar.update(event)
        elif isinstance(event, Message) and not quiet:
            print(event.text, file=sys.stderr)
        elif isinstance(event, Finished):
            result = event.result
    return result


def _class_list(values: list[int] | None) -> list[int]:
    classes = sorted(set(values or []))
    for value in classes:
        if not 0 <= value <= 9:
            raise UserError(f"class {value} is outside 0-9; the bundled model knows the digits 0 to 9")
    return classes


def _load_model(path: str | None, device: torch.device):
    from engine.checkpoint import load_checkpoint
    from resources import BASE_MODEL

    return load_checkpoint(path or BASE_MODEL, device)


def _check_writable_file(path: str) -> Path:
    """Fail before any work when the output file cannot be created."""
    out = Path(path)
    folder = out.parent
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'moderated.safetensors'}")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"cannot write {out}: {folder} is a file, not a folder; choose another path")
    if not folder.is_dir():
        raise UserError(f"cannot write {out}: the folder {folder} does not exist; create it first")
    # os.access() returns True for root even where the file system rejects writes (read-only mounts,
    # /sys). So create a test file now, before hours of work whose result could not be saved.
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError(f"cannot write {out}: {error.strerror or error}; choose a folder you can write to") from error
    return out


def _check_steps(steps: int | None) -> None:
    if steps is not None and steps < 1:
        raise UserError(f"--steps must be at least 1, got {steps}")


def _print_json(document: dict) -> None:
    print(json.dumps(document, indent=2))


def command_moderate(args: argparse.Namespace) -> int:
    from engine.checkpoint import save_checkpoint
    from engine.data import bundled_tensors, require_images
    from engine.device import pick_device
    from engine.moderation import SMALL_RETAIN_SET, iter_moderate, preset

    out = _check_writable_file(args.out)
    forget_classes = _class_list(args.forget_class)
    config = preset(args.preset)
    for name in ("method", "steps", "seed", "lr", "forget_weight", "forget_period", "forget_t_min", "forget_t_max", "ema_decay", "precision"):
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, value)
    config.validate()
    device = pick_device(args.device)
    model = _load_model(args.checkpoint, device)

    if forget_classes:
        forget, _ = bundled_tensors(classes=forget_classes)
        summary = f"bundled MNIST class(es) {', '.join(map(str, forget_classes))}: {len(forget)} images"
    else:
        loaded = require_images(args.forget, model.image, "forget")
        forget = loaded.images
        summary = f"{len(forget)} images from {', '.join(map(str, args.forget))}"
        for path, reason in loaded.failures:
            print(f"skipped {path}: {reason}", file=sys.stderr)

    if args.retain:
        retain = require_images(args.retain, model.image, "retain").images
    else:
        excluded = forget_classes or _class_list(args.retain_exclude_class)
        retain, _ = bundled_tensors(exclude=excluded)
        if not forget_classes and not excluded:
            print("note: the retain set is all bundled digits, including any that look like the forget images; "
                  "pass --retain-exclude-class N or --retain PATH to leave them out", file=sys.stderr)
    if len(retain) == 0:
        raise UserError("the retain set is empty; keep at least one class or give --retain images")
    if len(retain) < SMALL_RETAIN_SET:
        print(f"warning: only {len(retain)} retain images; the model will keep little besides them. Give --retain "
              f"at least {SMALL_RETAIN_SET} images of what it should still generate", file=sys.stderr)

    result = _drive(iter_moderate(model, forget.to(device), retain.to(device), config, forget_summary=summary), "moderate", args.quiet)
    save_checkpoint(result.model, out)
    report = {"out": str(out), "method": config.method, "steps": result.steps_done, "seconds": round(result.seconds, 1),
              "final_losses": result.last_values, "forget_set": summary, "retain_images": len(retain)}
    if args.json:
        _print_json(report)
    else:
        print(f"wrote {out} ({config.method}, {result.steps_done} steps, {result.seconds:.0f} s)")
    return 0


def command_sample(args: argparse.Namespace) -> int:
    from engine.data import to_pil
    from engine.device import pick_device
    from engine.grid import image_grid
    from engine.sampling import SamplerConfig, iter_sample

    if args.n < 1:
        raise UserError("--n must be at least 1")
    _check_steps(args.steps)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the PNG files")
    _check_writable_file(str(out / "grid.png")) if out.is_dir() else _check_writable_file(str(out))
    model = _load_model(args.checkpoint, pick_device(args.device))
    config = SamplerConfig(sampler=args.sampler, steps=args.steps)
    images = _drive(iter_sample(model, args.n, args.seed, config), "sample", args.quiet)

    pictures = {f"{index:06d}.png": to_pil(image) for index, image in enumerate(images)}
    pictures["grid.png"] = image_grid(images)
    _write_pictures(out, pictures)
    if args.json:
        _print_json({"out": str(out), "count": args.n, "seed": args.seed, "sampler": args.sampler, "steps": config.step_count})
    else:
        print(f"wrote {args.n} samples and grid.png to {out}")
    return 0


def _write_pictures(out: Path, pictures: dict) -> None:
    """Write all PNG files into a temporary folder first, so a failure leaves none of them behind."""
    parent = out.parent
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as error:
        raise UserError(f"cannot write to {out}: {error.strerror}; choose a folder you can write to") from error
    try:
        for name, picture in pictures.items():
            picture.save(staging / name)
        if not out.exists():
            # mkdtemp creates the folder private (0700); give it the permissions mkdir would.
            os.chmod(staging, 0o777 & ~PROCESS_UMASK)
            staging.rename(out)
            return
        for name in pictures:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def command_evaluate(args: argparse.Namespace) -> int:
    from engine.device import pick_device
    from engine.metrics import iter_evaluate
    from engine.sampling import SamplerConfig

    forget_classes = _class_list(args.forget_class)
    if args.n < 2:
        raise UserError("--n must be at least 2 to measure a Fréchet distance")
    _check_steps(args.steps)
    model = _load_model(args.checkpoint, pick_device(args.device))
    sampler = SamplerConfig(sampler=args.sampler, steps=args.steps)
    evaluation = _drive(iter_evaluate(model, forget_classes, args.n, args.seed, sampler), "evaluate", args.quiet)
    if args.json:
        _print_json(evaluation.to_dict())
        return 0
    print(f"samples: {evaluation.count} (seed {evaluation.seed}, {sampler.sampler} sampler, {sampler.step_count} steps)")
    print(f"forget rate for class(es) {', '.join(map(str, forget_classes))}: {evaluation.forget_rate:.1%}")
    print(f"recognisable (classifier probability >= 0.9): {evaluation.recognisable:.1%}")
    print("class shares: " + "  ".join(f"{digit}:{share:.1%}" for digit, share in enumerate(evaluation.histogram)))
    if evaluation.frechet_kept is not None:
        print(f"kept-class Fréchet distance (classifier features): {evaluation.frechet_kept:.2f}")
    return 0


def _read_picture(path: Path):
    """Open an image file fully, or return the reason it cannot be used."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            picture.load()
            return picture.copy(), None
    except FileNotFoundError:
        return None, "not found"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None, "not a readable image"


def _downstream(args: argparse.Namespace, label: str, make_job) -> int:
    """Shared part of inpaint and reconstruct: read images, run the job, write one PNG per image."""
    from engine.data import convert_image, to_pil
    from engine.device import pick_device

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the PNG files")
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: the folder {out.parent} does not exist; create it first")
    model = _load_model(args.checkpoint, pick_device(args.device))

    mask_picture = None
    if getattr(args, "mask", None):
        mask_picture, reason = _read_picture(Path(args.mask))
        if mask_picture is None:
            raise UserError(f"mask {args.mask}: {reason}; give a PNG of the image's size, white = keep, black = fill")

    tensors, names, inputs, skipped = [], [], [], 0
    for raw in args.image:
        path = Path(raw)
        picture, reason = _read_picture(path)
        if picture is None:
            print(f"skipped {path}: {reason}", file=sys.stderr)
            skipped += 1
            continue
        if mask_picture is not None and mask_picture.size != picture.size:
            print(f"skipped {path}: the mask is {mask_picture.size[0]}x{mask_picture.size[1]} but the image is "
                  f"{picture.size[0]}x{picture.size[1]}; make a mask of the image's size", file=sys.stderr)
            skipped += 1
            continue
        tensors.append(convert_image(picture, model.image))
        names.append(path.with_suffix(".png").name)
        inputs.append(path)
    if out.exists() and any((out / name).resolve() == path.resolve() for name, path in zip(names, inputs)):
        raise UserError(f"--out {out} would overwrite an input image; choose another output folder")
    if len(set(names)) != len(names):
        raise UserError("two input images have the same file name, so their outputs would collide; rename one")
    if not tensors:
        raise UserError("no input image could be used; check the messages above")

    result = _drive(make_job(model, torch.stack(tensors), mask_picture), label, args.quiet)
    _write_pictures(out, {name: to_pil(image) for name, image in zip(names, result)})
    print(f"wrote {len(names)} image(s) to {out}" + (f"; skipped {skipped}" if skipped else ""))
    return 2 if skipped else 0


def command_inpaint(args: argparse.Namespace) -> int:
    from engine.data import convert_mask
    from engine.downstream import iter_inpaint
    from engine.sampling import SamplerConfig

    def job(model, images, mask_picture):
        mask = convert_mask(mask_picture, model.image)
        if mask.min() > 0.5:
            raise UserError(f"the mask {args.mask} is white everywhere, so there is nothing to fill; paint the area to fill black")
        masks = mask[None].expand(len(images), -1, -1, -1)
        return iter_inpaint(model, images, masks, args.seed, SamplerConfig(sampler="pc", steps=args.steps))

    return _downstream(args, "inpaint", job)


def command_reconstruct(args: argparse.Namespace) -> int:
    from engine.downstream import ReconstructionConfig, iter_reconstruct

    config = ReconstructionConfig(method=args.method, t=args.t, steps=args.steps)
    config.validate()
    return _downstream(args, "reconstruct", lambda model, images, _: iter_reconstruct(model, images, args.seed, config))


def command_pretrain(args: argparse.Namespace) -> int:
    from engine.pretrain import PretrainConfig, iter_pretrain

    out = _check_writable_file(args.out)
    from engine.device import pick_device

    config = PretrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                            exclude_classes=_class_list(args.exclude_class), bf16=args.bf16,
                            device=str(pick_device(args.device)))
    config.save_every = min(config.save_every, config.steps)
    _drive(iter_pretrain(config, out), "pretrain", args.quiet)
    print(f"wrote {out}")
    return 0


def command_train_classifier(args: argparse.Namespace) -> int:
    from engine.classifier import ClassifierTrainConfig, iter_train_classifier

    if args.epochs < 1:
        raise UserError("--epochs must be at least 1")

    out = _check_writable_file(args.out)
    _drive(iter_train_classifier(ClassifierTrainConfig(epochs=args.epochs, seed=args.seed), out), "train-classifier", args.quiet)
    print(f"wrote {out}")
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line that points to --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Append "(default: X)" to option help where the option has a default and the text does not name it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    from engine.device import PRECISIONS
    from engine.moderation import PRESETS, ModerationConfig
    from engine.sampling import DEFAULT_STEPS
    from engine.objectives import METHODS
    from engine.sampling import SAMPLERS

    defaults = ModerationConfig()
    steps_text = ", ".join(f"{name} {steps}" for name, steps in DEFAULT_STEPS.items())
    parser = _Parser(prog="msgm-studio", formatter_class=_HelpFormatter, description="Concept moderation of score-based generative models (MSGM). "
                                     "Without a command, opens the studio window on the bundled model; `msgm-studio FILE` opens a checkpoint "
                                     "(.safetensors) or project (.msgmproj) in it. See the README for a walk-through.")
    parser.add_argument("--version", action="version", version=f"msgm-studio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(sub, checkpoint=True):
        if checkpoint:
            sub.add_argument("--checkpoint", metavar="PATH", help="checkpoint to load (default: the bundled MNIST model)")
        sub.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
        sub.add_argument("--quiet", action="store_true", help="no progress bar")

    moderate = commands.add_parser("moderate", formatter_class=_HelpFormatter, help="fine-tune a model to stop generating a forget set (MSGM)")
    common(moderate)
    source = moderate.add_mutually_exclusive_group(required=True)
    source.add_argument("--forget-class", type=int, nargs="+", metavar="N", help="bundled MNIST class(es) to forget")
    source.add_argument("--forget", nargs="+", metavar="PATH", help="image files or folders that show what to forget")
    moderate.add_argument("--retain", nargs="+", metavar="PATH", help="image files or folders to keep (default: the bundled digits minus the forget classes)")
    moderate.add_argument("--retain-exclude-class", type=int, nargs="+", metavar="N",
                          help="with --forget: leave these bundled classes out of the default retain set")
    moderate.add_argument("--method", choices=METHODS, help=f"forget objective (default: {defaults.method})")
    moderate.add_argument("--preset", choices=list(PRESETS), default="default", help="named settings to start from: default; fast (150 steps); thorough (600 steps); paper (w_R 0.99, w_F 0.01, K 4)")
    moderate.add_argument("--steps", type=int, help=f"optimiser steps (default: {defaults.steps})")
    moderate.add_argument("--seed", type=int, help=f"random seed of the run (default: {defaults.seed})")
    moderate.add_argument("--lr", type=float, help=f"Adam learning rate (default: {defaults.lr})")
    moderate.add_argument("--forget-weight", type=float, help=f"weight w_F of the forget term (default: {defaults.forget_weight})")
    moderate.add_argument("--forget-period", type=int, help=f"apply the forget term every K steps (default: {defaults.forget_period})")
    moderate.add_argument("--forget-t-min", type=float, help=f"smallest time t in (0, 1] at which the forget term acts (default: {defaults.forget_t_min})")
    moderate.add_argument("--forget-t-max", type=float, help=f"largest time t in (0, 1] at which the forget term acts (default: {defaults.forget_t_max})")
    moderate.add_argument("--ema-decay", type=float, help=f"decay of the weight EMA that is saved (default: {defaults.ema_decay})")
    moderate.add_argument("--precision", choices=PRECISIONS, help=f"auto (bfloat16 where the device runs it natively), fp32 or bf16 (default: {defaults.precision})")
    moderate.add_argument("--out", required=True, metavar="FILE", help="where to write the moderated .safetensors checkpoint")
    moderate.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    moderate.set_defaults(handler=command_moderate)

    sample = commands.add_parser("sample", formatter_class=_HelpFormatter, help="generate images from fixed seeds")
    common(sample)
    sample.add_argument("--n", type=int, default=64, help="number of images (default: 64)")
    sample.add_argument("--seed", type=int, default=0, help="seed of the starting noise (default: 0)")
    sample.add_argument("--sampler", choices=SAMPLERS, default="ddim", help="em: Euler-Maruyama, pc: predictor-corrector, ode: probability-flow ODE (Heun), ddim: DDIM/ancestral")
    sample.add_argument("--steps", type=int, help=f"sampler steps (default: {steps_text})")
    sample.add_argument("--out", required=True, metavar="DIR", help="folder for 000000.png, ... and grid.png")
    sample.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    sample.set_defaults(handler=command_sample)

    evaluate = commands.add_parser("evaluate", formatter_class=_HelpFormatter, help="forget rate, class shares and Fréchet distance over fixed-seed samples")
    common(evaluate)
    evaluate.add_argument("--forget-class", type=int, nargs="+", required=True, metavar="N", help="class(es) counted as forgotten")
    evaluate.add_argument("--n", type=int, default=1000, help="number of samples (default: 1000)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the samples (default: 0)")
    evaluate.add_argument("--sampler", choices=SAMPLERS, default="ddim", help="sampler of the measured samples, as for sample")
    evaluate.add_argument("--steps", type=int, help=f"sampler steps (default: {steps_text})")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    evaluate.set_defaults(handler=command_evaluate)

    inpaint = commands.add_parser("inpaint", formatter_class=_HelpFormatter, help="fill the masked part of images (one PNG out per image in)")
    common(inpaint)
    inpaint.add_argument("--image", nargs="+", required=True, metavar="PATH", help="images to complete")
    inpaint.add_argument("--mask", required=True, metavar="PATH", help="PNG of the image's size: white = keep, black = fill")
    inpaint.add_argument("--seed", type=int, default=0, help="seed of the sampler's noise")
    inpaint.add_argument("--steps", type=int, default=100, help="predictor-corrector steps (default: 100)")
    inpaint.add_argument("--out", required=True, metavar="DIR", help="folder for the results, named like the inputs")
    inpaint.set_defaults(handler=command_inpaint)

    reconstruct = commands.add_parser("reconstruct", formatter_class=_HelpFormatter, help="pass images through the model and back (one PNG out per image in)")
    common(reconstruct)
    reconstruct.add_argument("--image", nargs="+", required=True, metavar="PATH", help="images to reconstruct")
    reconstruct.add_argument("--method", choices=["ode", "sde"], default="ode",
                             help="ode: encode and decode with the probability-flow ODE; sde: noise to --t and run the reverse SDE")
    reconstruct.add_argument("--t", type=float, default=0.02, help="time in (0, 1] the image is noised to: for ode, before encoding to t = 1; for sde, where the reverse SDE starts (default: 0.02)")
    reconstruct.add_argument("--steps", type=int, default=50, help="ODE or SDE steps (default: 50)")
    reconstruct.add_argument("--seed", type=int, default=0, help="seed of the re-noising and the sampler's noise")
    reconstruct.add_argument("--out", required=True, metavar="DIR", help="folder for the results, named like the inputs")
    reconstruct.set_defaults(handler=command_reconstruct)

    pretrain = commands.add_parser("pretrain", formatter_class=_HelpFormatter, help="train a base model on the bundled MNIST digits")
    common(pretrain, checkpoint=False)
    pretrain.add_argument("--out", required=True, metavar="FILE", help="where to write the .safetensors checkpoint")
    pretrain.add_argument("--exclude-class", type=int, nargs="+", metavar="N", help="leave these classes out (the retrain baseline)")
    pretrain.add_argument("--steps", type=int, default=10000, help="optimiser steps (default: 10000)")
    pretrain.add_argument("--batch-size", type=int, default=128, help="images per optimiser step")
    pretrain.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    pretrain.add_argument("--seed", type=int, default=0, help="random seed of the run")
    pretrain.add_argument("--bf16", action="store_true", help="bfloat16 autocast on the CPU (faster with AVX-512 BF16)")
    pretrain.set_defaults(handler=command_pretrain)

    classifier = commands.add_parser("train-classifier", formatter_class=_HelpFormatter, help="train the MNIST classifier used for measurement")
    common(classifier, checkpoint=False)
    classifier.add_argument("--out", required=True, metavar="FILE", help="where to write the classifier .safetensors file")
    classifier.add_argument("--epochs", type=int, default=15, help="passes over the training digits")
    classifier.add_argument("--seed", type=int, default=0, help="random seed of the run")
    classifier.set_defaults(handler=command_train_classifier)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except UserError as error:
        print(f"msgm-studio {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"msgm-studio {args.command}: interrupted", file=sys.stderr)
        return 130
