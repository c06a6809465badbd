"""Causal denoisers with one interface: ``(x_noisy (B,T,D), k (B,T), cond) -> prediction``."""

from dfplan.denoisers.base import BACKBONES, Cache, Denoiser, DenoiserConfig
from dfplan.denoisers.rnn import RNNDenoiser
from dfplan.denoisers.transformer import TransformerDenoiser
from dfplan.denoisers.video import VideoDenoiser


def build_denoiser(config: DenoiserConfig, token_dim: int, cond_dim: int, token_cond_dim: int, levels: int) -> Denoiser:
    """Instantiate the configured backbone."""
    classes = {"rnn": RNNDenoiser, "transformer": TransformerDenoiser, "video": VideoDenoiser}
    return classes[config.backbone](config, token_dim, cond_dim, token_cond_dim, levels)


__all__ = ["BACKBONES", "Cache", "Denoiser", "DenoiserConfig", "RNNDenoiser", "TransformerDenoiser", "VideoDenoiser",
           "build_denoiser"]
