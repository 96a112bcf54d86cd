"""Reading and writing checkpoints.

The native format is one `.safetensors` file. Its metadata entry `msgm_studio` contains a JSON document
with the network config, the SDE config, the image spec, the history of runs that produced the
weights and the version that wrote it. Loading reads tensors only; nothing in a file is executed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine import __version__
from engine.errors import UserError
from engine.score_model import ImageSpec, ScoreModel
from engine.sde import SDEConfig
from engine.unet import UNet, UNetConfig

METADATA_KEY = "msgm_studio"
FORMAT_VERSION = 1


def save_checkpoint(model: ScoreModel, path: str | Path) -> Path:
    """Write `model` to `path` atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    document = {
        "format_version": FORMAT_VERSION,
        "producer": f"msgm-studio {__version__}",
        "name": model.name,
        "network": model.unet_config.to_dict(),
        "sde": model.sde_config.to_dict(),
        "image": model.image.to_dict(),
        "classes": model.classes,
        "history": model.history,
    }
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in model.network.state_dict().items()}

    atomic_write(path, lambda temporary: save_file(tensors, temporary, metadata={METADATA_KEY: json.dumps(document)}))
    return path


def atomic_write(path: Path, write) -> None:
    """Call write(temporary_path) on a file beside `path`, then rename it over `path`.

    A crash or an error while writing leaves no partial file: the temporary file is removed and any
    existing `path` stays as it was.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: the folder {folder} does not exist; create it or choose another path")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}; choose a folder you can write to") from error
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~PROCESS_UMASK)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
PROCESS_UMASK = _read_umask()


def _read_magic(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(16)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> ScoreModel:
    """Load a checkpoint, recognised by its content rather than its extension."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"checkpoint not found: {path}; check the path")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a checkpoint file; choose a .safetensors file")
    try:
        magic = _read_magic(path)
    except OSError as error:
        raise UserError(f"cannot read checkpoint {path}: {error.strerror}") from error

    if len(magic) >= 9 and magic[8:9] == b"{":
        return _load_safetensors(path, device)
    if magic.startswith(b"PK\x03\x04"):
        raise UserError(
            f"{path} is a PyTorch .pth file; MSGM Studio opens its own .safetensors checkpoints only "
            "in this version"
        )
    raise UserError(f"{path} is not a checkpoint MSGM Studio can read; choose a .safetensors file it exported")


def read_safetensors_document(path: Path, key: str, format_version: int, what: str,
                              fix: str) -> tuple[dict | None, dict[str, torch.Tensor]]:
    """Read the JSON document under metadata `key` and all tensors (on the CPU) of a safetensors file.

    Returns (None, tensors) when the file has no `key` metadata, so that the caller can say what the
    file is instead. Raises a UserError, ending with `fix`, for a file that is not safetensors, a document
    that is not a JSON object, or one written by a newer format version. `what` names the expected
    kind of file, e.g. "a safetensors file" or "an MSGM Studio project".
    """
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise UserError(f"{path} is damaged or not {what} ({error}); {fix}") from error
    if key not in metadata:
        return None, tensors
    try:
        document = json.loads(metadata[key])
    except json.JSONDecodeError as error:
        raise UserError(f"{path} has invalid {key} metadata ({error}); {fix}") from error
    if not isinstance(document, dict):
        raise UserError(f"{path} has invalid {key} metadata (not a JSON object); {fix}")
    if document.get("format_version", 0) > format_version:
        raise UserError(f"{path} was written by a newer MSGM Studio ({document.get('producer')}); update msgm-studio")
    return document, tensors


def _load_safetensors(path: Path, device: str | torch.device) -> ScoreModel:
    document, tensors = read_safetensors_document(path, METADATA_KEY, FORMAT_VERSION, "a safetensors file",
                                                  "export it again")
    if document is None:
        raise UserError(
            f"{path} is a safetensors file without MSGM Studio metadata, so its architecture and SDE are "
            "unknown; open a checkpoint written by msgm-studio"
        )
    try:
        unet_config = UNetConfig.from_dict(document["network"])
        sde_config = SDEConfig.from_dict(document["sde"])
        image = ImageSpec.from_dict(document["image"])
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path} has invalid MSGM Studio metadata ({error}); export it again") from error

    try:
        network = UNet(unet_config)
    except (ValueError, RuntimeError, TypeError) as error:
        raise UserError(f"{path} describes a network that cannot be built ({error})") from error
    _check_state(path, network, tensors)
    network.load_state_dict(tensors, strict=True)
    network.eval()

    model = ScoreModel(
        network=network,
        sde_config=sde_config,
        image=image,
        name=document.get("name") or path.stem,
        history=list(document.get("history") or []),
        classes=document.get("classes"),
    )
    return model.to(device)


def _check_state(path: Path, network: UNet, tensors: dict[str, torch.Tensor]) -> None:
    """Reject partial or mismatched weights instead of loading them silently."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise UserError(
            f"{path} does not match its own network config: {len(missing)} missing and "
            f"{len(unexpected)} unexpected tensors (first: {(missing or unexpected)[0]})"
        )
    for key, tensor in tensors.items():
        if tensor.shape != expected[key].shape:
            raise UserError(
                f"{path}: tensor {key} has shape {tuple(tensor.shape)}, the config needs {tuple(expected[key].shape)}"
            )
        if not tensor.is_floating_point():
            raise UserError(f"{path}: tensor {key} is {tensor.dtype}, expected floating point weights")
