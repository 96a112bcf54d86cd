"""Optimisation shared by pre-training and moderation: Adam, linear warm-up, clipping and EMA."""

from __future__ import annotations

import copy

import torch
from torch import nn


class Optimisation:
    """One optimiser step at a time, with the EMA copy of the weights kept alongside.

    The optimiser is Adam (0.9, 0.999, eps 1e-8) with a linear learning-rate warm-up over `warmup`
    steps and a global gradient-norm clip. The EMA network is the one to sample from and to save. The EMA starts at the
    initial weights without a warm-up, so after k steps they still weigh ema_decay^k: a model trained
    from scratch with decay 0.999 needs several thousand steps before its EMA is usable.
    """

    def __init__(self, network: nn.Module, lr: float, warmup: int, grad_clip: float, ema_decay: float):
        self.network = network
        self.ema = copy.deepcopy(network).eval().requires_grad_(False)
        self.lr = lr
        self.warmup = warmup
        self.grad_clip = grad_clip
        self.ema_decay = ema_decay
        self.optimizer = torch.optim.Adam(network.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
        self.steps_done = 0

    def step(self, loss: torch.Tensor) -> float:
        """Back-propagate `loss`, update the weights and the EMA; return the gradient norm before clipping."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.grad_clip)

        self.steps_done += 1
        scale = min(1.0, self.steps_done / self.warmup) if self.warmup > 0 else 1.0
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr * scale
        self.optimizer.step()
        self._update_ema()
        return float(grad_norm)

    @torch.no_grad()
    def _update_ema(self) -> None:
        for ema_parameter, parameter in zip(self.ema.parameters(), self.network.parameters()):
            ema_parameter.lerp_(parameter, 1.0 - self.ema_decay)
        for ema_buffer, buffer in zip(self.ema.buffers(), self.network.buffers()):
            ema_buffer.copy_(buffer)
