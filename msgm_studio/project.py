"""The project file: one studio session (forget set, settings, moderated model, results) in one file. No Qt.

A project is a safetensors file with the suffix `.msgmproj`, written atomically. Its tensors:

- `forget_set.images`: the forget set's own images (files, drawings, picked samples),
  float32 (N, C, H, W) in [-1, 1]. Bundled classes are stored by index, not as images.
- `retain_set.images`: retain images, only when the retain source is a set of images rather than
  the bundled data.
- `moderated.<name>`: the moderated model's network weights, when the session has one.

Its metadata entry `msgm_studio_project` is a JSON document:

    {"format_version": 1, "producer": "msgm-studio 0.1.0",
     "checkpoint": {"path": "/abs/model.safetensors", "relative": "../model.safetensors", "bundled": false},
     "forget_set": {"class_names": ["0", ...], "classes": [7], "images": [{"kind": "file", "origin": "/a.png"}]},
     "retain": {"kind": "bundled"},
     "settings": {"moderation": {...}, ...},
     "moderated": null or {"name": ..., "network": {...}, "sde": {...}, "image": {...}, "classes": [...]},
     "results": {"moderation_history": [...], "forget_rates": {...}, "summary": "...",
                 "training": {"losses": [[step, {...}], ...], "measurements": [...], "score_diagnostics": [...]}}}

The original model is referenced by path, never copied: it is opened from the checkpoint file.
Loading reads tensors and JSON only; nothing in the file is executed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from engine import __version__
from engine.checkpoint import atomic_write, read_safetensors_document
from engine.errors import UserError
from engine.score_model import ImageSpec, ScoreModel
from engine.sde import SDEConfig
from engine.unet import UNet, UNetConfig
from msgm_studio.forget_set import KINDS, ForgetSet
from resources import BASE_MODEL

PROJECT_SUFFIX = ".msgmproj"
METADATA_KEY = "msgm_studio_project"
FORMAT_VERSION = 1
FORGET_IMAGES = "forget_set.images"
RETAIN_IMAGES = "retain_set.images"
MODERATED_PREFIX = "moderated."


@dataclass
class Project:
    """Everything a project file stores.

    `checkpoint` is the original model's file. `retain` describes the retain source as the fields of
    `msgm_studio.retain_source.RetainSource`. The studio leaves the optional `retain_images` None,
    because it builds the retain set from its source when a moderation starts.
    """

    checkpoint: Path
    forget_set: ForgetSet
    retain: dict = field(default_factory=lambda: {"kind": "bundled"})
    retain_images: torch.Tensor | None = None
    settings: dict = field(default_factory=dict)
    moderated: ScoreModel | None = None
    results: dict = field(default_factory=dict)


def save_project(project: Project, path: str | Path) -> Path:
    """Write `project` to `path` atomically. Returns the path, with the `.msgmproj` suffix added when it had none."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(PROJECT_SUFFIX)
    tensors: dict[str, torch.Tensor] = {}
    forget_set = project.forget_set
    if forget_set.entries:
        tensors[FORGET_IMAGES] = torch.stack([entry.image.detach().float().cpu() for entry in forget_set.entries])
    if project.retain_images is not None:
        tensors[RETAIN_IMAGES] = project.retain_images.detach().float().cpu()
    if project.moderated is not None:
        for name, value in project.moderated.network.state_dict().items():
            tensors[MODERATED_PREFIX + name] = value.detach().to("cpu")
    tensors = {name: value.contiguous() for name, value in tensors.items()}
    results = dict(project.results)
    if project.moderated is not None:
        results["moderation_history"] = project.moderated.history

    document = {
        "format_version": FORMAT_VERSION,
        "producer": f"msgm-studio {__version__}",
        "checkpoint": _checkpoint_reference(project.checkpoint, path),
        "forget_set": {
            "class_names": list(forget_set.class_names),
            "classes": list(forget_set.classes),
            "images": [{"kind": entry.kind, "origin": entry.origin} for entry in forget_set.entries],
        },
        "retain": project.retain,
        "settings": project.settings,
        "moderated": _model_document(project.moderated) if project.moderated is not None else None,
        "results": results,
    }
    metadata = {METADATA_KEY: json.dumps(document)}
    atomic_write(path, lambda temporary: save_file(tensors, temporary, metadata=metadata))
    return path


@dataclass
class LoadedProject:
    """A project read from its file. `checkpoint_found` is False when the original model's file is gone."""

    project: Project
    checkpoint_found: bool


def load_project(path: str | Path, device: str | torch.device = "cpu") -> LoadedProject:
    """Read a project file, raising UserError when it is missing, damaged or not a project."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"project not found: {path}; check the path")
    document, tensors = read_safetensors_document(path, METADATA_KEY, FORMAT_VERSION, "an MSGM Studio project",
                                                  "choose a .msgmproj file, or save the project again")
    if document is None:
        raise UserError(f"{path} is a safetensors file but not an MSGM Studio project; open it with File > Open… "
                        "if it is a checkpoint")

    try:
        checkpoint, found = _resolve_checkpoint(document["checkpoint"], path)
        forget_set = _forget_set(document["forget_set"], tensors.get(FORGET_IMAGES))
        moderated = None
        if document.get("moderated") is not None:
            weights = {name[len(MODERATED_PREFIX):]: value for name, value in tensors.items()
                       if name.startswith(MODERATED_PREFIX)}
            history = list((document.get("results") or {}).get("moderation_history") or [])
            moderated = _build_model(document["moderated"], weights, history).to(device)
        project = Project(
            checkpoint=checkpoint,
            forget_set=forget_set,
            retain=dict(document.get("retain") or {"kind": "bundled"}),
            retain_images=tensors.get(RETAIN_IMAGES),
            settings=dict(document.get("settings") or {}),
            moderated=moderated,
            results=dict(document.get("results") or {}),
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise UserError(f"{path} is a damaged project ({type(error).__name__}: {error}); save the project again") from error
    return LoadedProject(project=project, checkpoint_found=found)


def _checkpoint_reference(checkpoint: Path, project_path: Path) -> dict:
    """Describe the original model's file so that it can be found again after the project moved.

    The bundled model is marked as such, because its path changes with every installation.
    """
    checkpoint = Path(checkpoint).resolve()
    bundled = checkpoint == BASE_MODEL.resolve()
    try:
        relative = os.path.relpath(checkpoint, project_path.resolve().parent)
    except ValueError:  # on Windows, a checkpoint on another drive has no relative path
        relative = None
    return {"path": str(checkpoint), "relative": relative, "bundled": bundled}


def _resolve_checkpoint(reference: dict, project_path: Path) -> tuple[Path, bool]:
    """Find the original model's file: the bundled model, the stored path, or the same place relative to the project."""
    if reference.get("bundled"):
        return BASE_MODEL, BASE_MODEL.is_file()
    stored = Path(reference["path"])
    if stored.is_file():
        return stored, True
    if reference.get("relative"):
        beside = (project_path.resolve().parent / reference["relative"]).resolve()
        if beside.is_file():
            return beside, True
    return stored, False


def _forget_set(document: dict, images: torch.Tensor | None) -> ForgetSet:
    forget_set = ForgetSet(class_names=[str(name) for name in document["class_names"]])
    forget_set.set_classes([int(index) for index in document["classes"]])
    if any(not 0 <= index < len(forget_set.class_names) for index in forget_set.classes):
        raise ValueError(f"forget set class indices {forget_set.classes} do not fit {len(forget_set.class_names)} classes")
    described = document["images"]
    count = 0 if images is None else len(images)
    if len(described) != count:
        raise ValueError(f"the forget set lists {len(described)} images but the file has {count}")
    for index, entry in enumerate(described):
        if entry["kind"] not in KINDS:
            raise ValueError(f"unknown forget image kind {entry['kind']!r}")
        forget_set.add_images(images[index : index + 1], entry["kind"], [str(entry["origin"])])
    if len(forget_set.entries) != count:
        raise ValueError("the forget set contains the same image twice")
    return forget_set


def _model_document(model: ScoreModel) -> dict:
    """Describe the model as a checkpoint's metadata does. The history goes into the results instead."""
    return {
        "name": model.name,
        "network": model.unet_config.to_dict(),
        "sde": model.sde_config.to_dict(),
        "image": model.image.to_dict(),
        "classes": model.classes,
    }


def _build_model(document: dict, weights: dict[str, torch.Tensor], history: list[dict]) -> ScoreModel:
    """Rebuild a model from its description and weights. A missing or mis-shaped weight raises RuntimeError."""
    network = UNet(UNetConfig.from_dict(document["network"]))
    network.load_state_dict(weights, strict=True)
    network.eval()
    return ScoreModel(
        network=network,
        sde_config=SDEConfig.from_dict(document["sde"]),
        image=ImageSpec.from_dict(document["image"]),
        name=document.get("name") or "moderated",
        history=history,
        classes=document.get("classes"),
    )
