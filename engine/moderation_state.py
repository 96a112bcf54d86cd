"""The resumable state of a moderation run, and its file format.

A `ModerationState` contains what `iter_moderate` needs to continue a run exactly where it stopped:
the step, the settings, the trained and the EMA weights, Adam's moments and the states of the random
number generators. It contains no images. The caller stores the forget and retain images (or how to
rebuild them) beside the state and passes the same ones again with `iter_moderate(..., resume=state)`.

File format: one `.safetensors` file, written atomically (temporary file, then rename). Tensors are
`network.<key>`, `ema.<key>`, `optimizer.<parameter index>.<name>`, `rng.generator` and `rng.torch`;
the metadata entry `msgm_studio_moderation_state` is a JSON document with the step, the settings,
Adam's parameter groups, the image counts, the seconds spent and the forget set summary. Loading
reads tensors and JSON only, so nothing in the file is executed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import save_file

from engine import __version__
from engine.checkpoint import atomic_write, read_safetensors_document
from engine.errors import UserError
from engine.score_model import ScoreModel
from engine.training import Optimisation

if TYPE_CHECKING:
    from engine.moderation import ModerationConfig

METADATA_KEY = "msgm_studio_moderation_state"
FORMAT_VERSION = 1
# Settings that a resumed run may change, because they do not change the training trajectory.
RESUMABLE_CHANGES = ("steps", "preview_every", "preview_count", "preview_seed", "monitor_every", "monitor_count")


@dataclass
class ModerationState:
    """A moderation run after `step` optimiser steps. Tensors are CPU copies, independent of the running model."""

    step: int
    config: ModerationConfig
    network: dict[str, torch.Tensor]  # the weights being trained
    ema: dict[str, torch.Tensor]  # their EMA, which is sampled and exported
    optimizer: dict  # Adam's state_dict
    generator: torch.Tensor  # the run's generator: batches, times, noise and augmentation
    torch_rng: torch.Tensor  # torch's global CPU generator, used by dropout
    forget_count: int
    retain_count: int
    seconds: float = 0.0  # time spent on the run up to this state
    forget_summary: str = ""


def _cpu_copy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _cpu_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cpu_copy(item) for item in value]
    return value


def capture_state(step: int, config: ModerationConfig, model: ScoreModel, optimisation: Optimisation,
                  generator: torch.Generator, forget_count: int, retain_count: int, seconds: float,
                  forget_summary: str = "") -> ModerationState:
    """Copy the state of a running moderation after `step` steps."""
    # NOTE: on CUDA the GPU generators are not captured. Dropout is 0 in the bundled model, and CUDA
    # kernels are not bit-reproducible anyway, so a resumed GPU run matches closely, not exactly.
    return ModerationState(
        step=step,
        config=config,
        network=_cpu_copy(model.network.state_dict()),
        ema=_cpu_copy(optimisation.ema.state_dict()),
        optimizer=_cpu_copy(optimisation.optimizer.state_dict()),
        generator=generator.get_state(),
        torch_rng=torch.get_rng_state(),
        forget_count=forget_count,
        retain_count=retain_count,
        seconds=seconds,
        forget_summary=forget_summary,
    )


def check_resume(state: ModerationState, config: ModerationConfig, forget_count: int, retain_count: int) -> None:
    """Raise a UserError unless `state` can continue with these settings and these numbers of images."""
    if (state.forget_count, state.retain_count) != (forget_count, retain_count):
        raise UserError(
            f"the saved moderation was run with {state.forget_count:,} forget and {state.retain_count:,} retain "
            f"images, but {forget_count:,} and {retain_count:,} were given; resume it with the same forget and "
            "retain sets"
        )
    for item in fields(config):
        saved, given = getattr(state.config, item.name), getattr(config, item.name)
        if item.name not in RESUMABLE_CHANGES and saved != given:
            raise UserError(
                f"the saved moderation was run with {item.name} {saved!r}, but {given!r} was given; resume it "
                "with its saved settings (only steps and the preview and monitor settings may change)"
            )


def restore_state(state: ModerationState, model: ScoreModel, optimisation: Optimisation,
                  generator: torch.Generator) -> None:
    """Load `state` into a fresh copy of the original model, its optimisation and the run's generator."""
    _check_weights(state.network, model, "weights")
    _check_weights(state.ema, model, "EMA weights")
    model.network.load_state_dict(state.network)
    optimisation.ema.load_state_dict(state.ema)
    try:
        optimisation.optimizer.load_state_dict(state.optimizer)
    except (ValueError, KeyError) as error:
        raise UserError(f"the saved optimiser state does not fit this model ({error}); start a new moderation") from error
    optimisation.steps_done = state.step
    generator.set_state(state.generator)
    torch.set_rng_state(state.torch_rng)


def _check_weights(tensors: dict[str, torch.Tensor], model: ScoreModel, role: str) -> None:
    expected = model.network.state_dict()
    if set(tensors) != set(expected):
        raise UserError(f"the saved moderation's {role} do not fit the model {model.name!r}; resume it with the "
                        "model it was started from")
    for key, tensor in tensors.items():
        if tensor.shape != expected[key].shape:
            raise UserError(f"the saved moderation's {role} do not fit the model {model.name!r} ({key} has shape "
                            f"{tuple(tensor.shape)}, the model needs {tuple(expected[key].shape)})")


def save_state(path: str | Path, state: ModerationState) -> Path:
    """Write `state` to one safetensors file, atomically. See the module docstring for the layout."""
    path = Path(path)
    tensors = {f"network.{key}": value for key, value in state.network.items()}
    tensors.update({f"ema.{key}": value for key, value in state.ema.items()})
    for index, entries in state.optimizer["state"].items():
        for name, value in entries.items():
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"optimizer state {index}.{name} is not a tensor")
            tensors[f"optimizer.{index}.{name}"] = value
    tensors["rng.generator"] = state.generator
    tensors["rng.torch"] = state.torch_rng
    tensors = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}

    document = {
        "format_version": FORMAT_VERSION,
        "producer": f"msgm-studio {__version__}",
        "step": state.step,
        "config": state.config.to_dict(),
        "optimizer_param_groups": state.optimizer["param_groups"],
        "forget_count": state.forget_count,
        "retain_count": state.retain_count,
        "seconds": state.seconds,
        "forget_summary": state.forget_summary,
    }
    atomic_write(path, lambda temporary: save_file(tensors, temporary, metadata={METADATA_KEY: json.dumps(document)}))
    return path


def load_state(path: str | Path) -> ModerationState:
    """Read a state written by `save_state`. Raises a UserError for a missing, damaged or foreign file."""
    # Imported here because engine.moderation imports this module.
    from engine.moderation import ModerationConfig

    path = Path(path)
    if not path.is_file():
        raise UserError(f"saved moderation state not found: {path}; check the path")
    document, tensors = read_safetensors_document(path, METADATA_KEY, FORMAT_VERSION, "a safetensors file",
                                                  "start a new moderation")
    if document is None:
        raise UserError(f"{path} is not a saved moderation state (it has no {METADATA_KEY} metadata); "
                        "choose a file written by autosave")

    try:
        optimizer_state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                index, name = key.removeprefix("optimizer.").split(".", 1)
                optimizer_state.setdefault(int(index), {})[name] = value
        return ModerationState(
            step=int(document["step"]),
            config=ModerationConfig.from_dict(document["config"]),
            network=_prefixed(tensors, "network."),
            ema=_prefixed(tensors, "ema."),
            optimizer={"state": optimizer_state, "param_groups": document["optimizer_param_groups"]},
            generator=tensors["rng.generator"],
            torch_rng=tensors["rng.torch"],
            forget_count=int(document["forget_count"]),
            retain_count=int(document["retain_count"]),
            seconds=float(document.get("seconds", 0.0)),
            forget_summary=str(document.get("forget_summary", "")),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path} has an invalid moderation state ({error}); start a new moderation") from error


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key.removeprefix(prefix): value for key, value in tensors.items() if key.startswith(prefix)}
