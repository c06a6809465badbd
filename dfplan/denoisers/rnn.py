"""The paper's recurrent denoiser (Chen et al. 2024, Sec. 3.2 and Appendix D).

Per token: residual MLP on ``[x_t^{k_t}, emb(k_t), token_cond_t]`` -> GRU update of the
latent ``z_t = GRU(z_{t-1}, ·)`` -> residual MLP on ``[z_t, emb(k_t)]`` -> prediction.
The initial latent ``z_0`` encodes the conditioning (the first observation). With
``k_t = 0`` the GRU update is the posterior update of Bayes filtering; at ``k_t = K``
it is the prior (the paper's reading of the latent dynamics).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dfplan.denoisers.base import Cache, Denoiser, DenoiserConfig
from dfplan.denoisers.layers import LevelEmbedding, ResidualMLP


class RNNDenoiser(Denoiser):
    def __init__(self, config: DenoiserConfig, token_dim: int, cond_dim: int, token_cond_dim: int, levels: int) -> None:
        super().__init__(token_dim, cond_dim, token_cond_dim, levels)
        w = config.width
        self.level_embed = LevelEmbedding(w, levels)
        self.encoder = ResidualMLP(token_dim + w + token_cond_dim, w, config.depth, config.dropout)
        self.gru = nn.GRU(w, config.latent, batch_first=True)
        self.decoder = ResidualMLP(config.latent + w, w, config.depth, config.dropout)
        self.head = nn.Linear(w, token_dim)
        self.init_latent = nn.Sequential(nn.Linear(max(cond_dim, 1), config.latent), nn.Tanh())
        self.latent = config.latent

    def _initial(self, batch: int, cond: Tensor | None, like: Tensor) -> Tensor:
        if self.cond_dim:
            return self.init_latent(cond)  # (B, Z)
        return self.init_latent(torch.zeros(batch, 1, device=like.device, dtype=like.dtype))

    def _run(self, x: Tensor, k: Tensor, cond: Tensor | None, token_cond: Tensor | None, cache: Cache | None):
        self.check_inputs(x, k, cond, token_cond, cache)
        emb = self.level_embed(k)  # (B, T, W)
        inputs = [x, emb] + ([token_cond] if self.token_cond_dim else [])
        h = self.encoder(torch.cat(inputs, dim=-1))  # (B, T, W)
        z0 = cache.tensors[0] if cache is not None else self._initial(x.shape[0], cond, x)
        z, z_last = self.gru(h, z0.unsqueeze(0).contiguous())  # (B, T, Z), (1, B, Z)
        return z, emb, z_last[0]

    def forward(self, x: Tensor, k: Tensor, cond: Tensor | None = None, token_cond: Tensor | None = None,
                cache: Cache | None = None) -> Tensor:
        z, emb, _ = self._run(x, k, cond, token_cond, cache)
        return self.head(self.decoder(torch.cat([z, emb], dim=-1)))  # (B, T, D)

    def encode(self, x: Tensor, k: Tensor, cond: Tensor | None = None, token_cond: Tensor | None = None,
               cache: Cache | None = None) -> Cache:
        if x.shape[1] == 0:
            z0 = cache.tensors[0] if cache is not None else self._initial(x.shape[0], cond, x)
            return Cache([z0], 0 if cache is None else cache.length)
        _, _, z_last = self._run(x, k, cond, token_cond, cache)
        return Cache([z_last], x.shape[1] + (0 if cache is None else cache.length))
