"""Tiling images into one picture."""

from __future__ import annotations

import math

import torch
from PIL import Image

from engine.data import to_pil


def image_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2) -> Image.Image:
    """Tile (N, C, H, W) images in [-1, 1] into one Pillow image with `padding` dark pixels between them."""
    count = len(images)
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    height, width = images.shape[-2:]
    mode = "L" if images.shape[1] == 1 else "RGB"
    grid = Image.new(mode, (columns * (width + padding) + padding, rows * (height + padding) + padding))
    for index in range(count):
        row, column = divmod(index, columns)
        grid.paste(to_pil(images[index]), (padding + column * (width + padding), padding + row * (height + padding)))
    return grid
