"""Choosing the compute device."""

from __future__ import annotations

import torch

from engine.errors import UserError


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when present, then Apple MPS, otherwise the CPU; or the device the user asked for."""
    if requested and requested != "auto":
        try:
            device = torch.device(requested)
        except RuntimeError as error:
            raise UserError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError("CUDA was requested but no CUDA GPU is available; use --device cpu")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise UserError("MPS was requested but is not available on this machine; use --device cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
