"""The attention pooling module (imported by its builder only)."""

from __future__ import annotations

import torch
from torch import nn


class AttentionPool(nn.Module):
    """[N,C,*positions] -> [N,C]: per head, softmax over positions of a learned query's
    scores, then the weighted average of the head's channels."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.empty(heads, channels))
        nn.init.normal_(self.query, std=channels**-0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        x = x.reshape(n, c, -1)  # [N,C,P]
        weights = torch.softmax(torch.einsum("hc,ncp->nhp", self.query, x), dim=-1)  # [N,H,P]
        grouped = x.reshape(n, self.heads, c // self.heads, -1)  # [N,H,C/H,P]
        return torch.einsum("nhp,nhdp->nhd", weights, grouped).reshape(n, c)
