"""A compact time-conditioned U-Net that predicts the noise of a perturbed image.

Its whole architecture is described by `UNetConfig`, which checkpoints store next to the weights,
so a checkpoint rebuilds its own network without any Python file beside it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the noise-prediction network."""

    image_size: int = 28
    channels: int = 1
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (7,)
    dropout: float = 0.0
    groups: int = 8
    # Scales the network output; 1.0 for our models, kept for imported checkpoints.
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channel_mults"] = list(self.channel_mults)
        data["attention_resolutions"] = list(self.attention_resolutions)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> UNetConfig:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        for key in ("channel_mults", "attention_resolutions"):
            if key in known:
                known[key] = tuple(int(value) for value in known[key])
        return cls(**known)


def timestep_embedding(noise_level: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of one scalar per sample (the transformer position encoding)."""
    half = dim // 2
    frequencies = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=noise_level.device, dtype=torch.float32) / half
    )
    angles = noise_level.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, embed_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embed = nn.Linear(embed_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.embed(embedding)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        batch, channels, height, width = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(batch, 3, channels, height * width).unbind(1)
        attended = F.scaled_dot_product_attention(
            q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None], v.transpose(1, 2)[:, None]
        )
        attended = attended[:, 0].transpose(1, 2).reshape(batch, channels, height, width)
        return x + self.proj(attended)


class UNet(nn.Module):
    """Noise-prediction U-Net: input (B, C, H, W) and one noise level per sample, output like input."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        base = config.base_channels
        embed_dim = 4 * base
        self.embed = nn.Sequential(nn.Linear(base, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.conv_in = nn.Conv2d(config.channels, base, 3, padding=1)

        # Encoder: remember the channel count of every skip connection for the decoder.
        self.down = nn.ModuleList()
        skip_channels = [base]
        channels = base
        resolution = config.image_size
        for level, mult in enumerate(config.channel_mults):
            for _ in range(config.num_res_blocks):
                blocks = [ResBlock(channels, base * mult, embed_dim, config.groups, config.dropout)]
                channels = base * mult
                if resolution in config.attention_resolutions:
                    blocks.append(AttentionBlock(channels, config.groups))
                self.down.append(nn.ModuleList(blocks))
                skip_channels.append(channels)
            if level != len(config.channel_mults) - 1:
                self.down.append(nn.ModuleList([Downsample(channels)]))
                skip_channels.append(channels)
                resolution = (resolution + 1) // 2

        self.middle = nn.ModuleList(
            [
                ResBlock(channels, channels, embed_dim, config.groups, config.dropout),
                AttentionBlock(channels, config.groups),
                ResBlock(channels, channels, embed_dim, config.groups, config.dropout),
            ]
        )

        # Decoder: one more block per level than the encoder, each consuming one skip connection.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(config.channel_mults))):
            for _ in range(config.num_res_blocks + 1):
                blocks = [ResBlock(channels + skip_channels.pop(), base * mult, embed_dim, config.groups, config.dropout)]
                channels = base * mult
                if resolution in config.attention_resolutions:
                    blocks.append(AttentionBlock(channels, config.groups))
                self.up.append(nn.ModuleList(blocks))
            if level != 0:
                self.up.append(nn.ModuleList([Upsample(channels)]))
                resolution = resolution * 2

        self.norm_out = nn.GroupNorm(config.groups, channels)
        self.conv_out = nn.Conv2d(channels, config.channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor) -> torch.Tensor:
        embedding = self.embed(timestep_embedding(noise_level, self.config.base_channels))

        h = self.conv_in(x)
        skips = [h]
        for blocks in self.down:
            for block in blocks:
                h = block(h, embedding)
            skips.append(h)

        for block in self.middle:
            h = block(h, embedding)

        for blocks in self.up:
            if isinstance(blocks[0], Upsample):
                h = blocks[0](h, skips[-1].shape[-2:])
                continue
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, embedding)

        return self.conv_out(F.silu(self.norm_out(h)))


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=tuple(size), mode="nearest"))
