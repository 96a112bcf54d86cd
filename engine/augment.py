"""Random geometric and stroke augmentation, so that a few images stand for a whole concept."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def augment(images: torch.Tensor, generator: torch.Generator, shift: float = 0.1, degrees: float = 12.0,
            scale: float = 0.1, stroke: float = 0.0) -> torch.Tensor:
    """Warp each image by a random shift (fraction of the side), rotation (degrees) and scale.

    With `stroke` > 0 that share of the images also gets thicker (3x3 dilation) or thinner (erosion)
    strokes, half each. Pixels moved in from outside take the image's darkest value (its background).
    """
    count = len(images)
    angle = (torch.rand(count, generator=generator) * 2 - 1) * math.radians(degrees)
    factor = 1 + (torch.rand(count, generator=generator) * 2 - 1) * scale
    offset = (torch.rand(count, 2, generator=generator) * 2 - 1) * shift * 2
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    background = images.amin(dim=(1, 2, 3), keepdim=True)
    warped = F.grid_sample(images - background, grid, align_corners=False, padding_mode="zeros") + background

    if stroke > 0:
        choice = torch.rand(count, generator=generator)
        thicker = F.max_pool2d(warped, 3, stride=1, padding=1)
        thinner = -F.max_pool2d(-warped, 3, stride=1, padding=1)
        pick_thick = (choice < stroke / 2).reshape(-1, 1, 1, 1)
        pick_thin = ((choice >= stroke / 2) & (choice < stroke)).reshape(-1, 1, 1, 1)
        warped = torch.where(pick_thick, thicker, torch.where(pick_thin, thinner, warped))
    return warped
