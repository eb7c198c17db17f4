"""Disentangled Sequential Autoencoder (DSAE; Li & Mandt, ICML 2018) for videos.

A video x_{1:T} is explained by one static latent f (content, e.g. a character's look) and one
dynamic latent z_t per frame (motion):

* prior: p(f) = N(0, I); p(z_{1:T}) = prod_t N(z_t; mu(h_t), sigma(h_t)) with h_t from an
  ``LSTMCell`` over z_{<t} (input z_{t-1}, z_0 = 0, zero initial state);
* likelihood: p(x_t | f, z_t), a Gaussian with a fixed std (``likelihood_std``) around the frame the
  convolutional decoder draws from [f, z_t];
* posterior: q(f | x_{1:T}) from a bi-LSTM over the frame encodings (the forward direction's state
  at the last frame and the backward direction's state at the first frame, concatenated, then one
  linear layer each for the mean and the std); and for the dynamics either

  - ``posterior: factorized``: q(z_t | x_t), a one-hidden-layer MLP (LeakyReLU 0.2) on frame t's
    encoding only, or
  - ``posterior: full``: q(z_{1:T} | x_{1:T}, f), a bi-LSTM over [frame encoding, f] followed by a
    forward RNN (tanh) whose output at step t gives z_t's mean and std. As in the public reference
    implementation the RNN reads the bi-LSTM outputs only; ``posterior_feedback: true`` also feeds
    it z_{t-1}, so that z_t is drawn sequentially from q(z_t | z_{<t}, x, f).

Frame encoder and decoder (``dsae-paper``; the layout of the public reference implementation,
yatindandi/Disentangled-Sequential-Autoencoder, which the source's sizes pin down): four convolutions
with 256 channels, kernel 5, padding 2, each followed by BatchNorm and LeakyReLU(0.2), with strides
1, 2, 2, 2 — 3x64x64 -> 256x64x64 -> 256x32x32 -> 256x16x16 -> 256x8x8 (the first layer keeps the
resolution, so that four layers end at 8x8) — then the 256*8*8 = 16384 values go through two fully
connected layers (BatchNorm + LeakyReLU) 16384 -> 4096 -> 2048: the source's "4096 -> 2048" are
these layers' sizes and 2048 is the per-frame encoding fed to the LSTMs. The decoder mirrors it:
[f, z_t] (256 + 32) -> 4096 -> 16384 (Linear + BatchNorm + LeakyReLU), reshaped to 256x8x8, then
transposed convolutions (kernel 5, padding 2, output padding stride-1) with strides 2, 2, 2, 1 —
256x16x16 -> 256x32x32 -> 256x64x64 -> 3x64x64 — BatchNorm + LeakyReLU after each but the last,
which has no BatchNorm and a tanh. All LSTM/RNN sizes are 512 (``hidden``, ``prior_hidden``).
Where the reference code and its own description disagree this follows the description (BatchNorm
in the decoder's fully connected layers, none before the output tanh, plain linear heads for the
posterior means and stds, where the code puts a LeakyReLU on them). Weights keep PyTorch's default
initialisation (the reference: Kaiming normal, BatchNorm bias 1). Stds are ``softplus(.) + min_std``
(the reference uses log-variances; the family is the same).

Data range: videos are floats in [0, 1] (as :func:`seqvae.domains.sprites.data.sprite_videos` and the
Sprites reader produce them), shaped ``(B, T, C, H, W)`` (``layout: channels-first``, the default)
or ``(B, T, H, W, C)`` (``layout: channels-last``, the Sprites ``.npy`` layout). The encoder sees
``2x - 1`` in [-1, 1]; the decoder's tanh output ``a`` is mapped back to the frame mean
``(a + 1) / 2`` in [0, 1], and the likelihood N(x; mean, std^2) is over the data as given (in [0, 1]
units, so densities are comparable with other runs on the same data). Every frame-returning method
returns values in [0, 1] and in the model's ``layout``.

Likelihood std: the reference implementations minimise the summed squared error on [-1, 1] frames
plus the KLs, i.e. a Gaussian of variance 1/2 in [-1, 1] units, which is std 1/(2 sqrt 2) ~ 0.354
in [0, 1] units; ``dsae-paper`` uses that value (the default). ``likelihood_std`` can be lowered to
weight reconstruction more.

KL: KL(q(f|x) || p(f)) is analytic. The dynamic KL, E_q[log q(z_{1:T}|.) - log p(z_{1:T})], is
estimated along one posterior draw z_{1:T} as sum_t KL(q(z_t | .) || p(z_t | z_{<t})), each term an
analytic Gaussian KL given the sampled prefix (unbiased, lower variance than log q - log p at the
draw). The prior LSTM is run on the posterior draw (the reference code instead runs it on an
independent prior draw, which does not estimate the ELBO's KL).

Protocol mapping (:class:`~seqvae.models.base.VAE`): the per-video latent of the shared protocol is
the content f — ``latent_dim`` is ``f_dim``, ``encode`` returns q(f|x), ``prior`` is N(0, I) over f
— and ``forward``'s :class:`ModelOutput` carries ``posterior``/``prior``/``z`` for f,
``kl = kl_f + kl_z`` with ``terms = {"kl_f", "kl_z"}``, and ``kl_per_dim`` ``(B, f_dim + z_dim)``
(f's dimensions, then z's dimensions summed over frames; it sums to ``kl``, so free bits apply to
both latents). ``log_weights`` (IWAE, importance-sampled log p(x)) is over both latents:
log p(x|f,z) + log p(f) + log p(z) - log q(f|x) - log q(z|x,f). ``decode(f, batch)`` draws the
batch's own dynamics (posterior means given f), ``decode(f)`` dynamics from the prior.

Video API: :meth:`DSAE.encode_parts`, :meth:`DSAE.encode_dynamics`, :meth:`DSAE.dynamics_prior`,
:meth:`DSAE.decode_parts`, :meth:`DSAE.generate_videos`, :meth:`DSAE.swap`, :meth:`DSAE.keep_and_resample`, :meth:`DSAE.resample_dynamics`,
:meth:`DSAE.resample_content`, :meth:`DSAE.sample_content`, :meth:`DSAE.sample_dynamics`.

Presets: ``dsae-paper`` (the source's sizes, above) and ``dsae-cpu``: the same layout at 32x32 frames
with 16 channels (strides 1, 2, 2, 2 -> 16x4x4), fc 256 -> 512 -> 256, f 64, z 4, LSTMs 128 and
likelihood std 0.1 (1.0 M parameters with the factorized q(z), 1.5 M with the full one, against 178 M).
The convolutions at full resolution dominate a step: 32 channels cost ~0.6 s of one free CPU thread
per batch of 25 eight-frame videos (factorized q), 16 channels ~0.2 s (full q, estimated, ~0.4 s).
z has 4 dimensions per frame: with 16, the factorized q(z_t | x_t) kept much of the look in z_t, and
videos with f kept and new dynamics lost their attributes; with 4 the look goes to f (the judge's
attribute accuracy with f kept is close to that on reconstructions, and at chance with z kept). The
direction the character faces is static within a video, so f can take part of it (and of the motion):
with the sprites defaults, the action survives a new f less often than the look survives new dynamics.
The reference std 0.354 lets the small parts (skin, hair) go. The source trains with
Adam (lr 2e-4, betas 0.9, 0.999), batch 25, 200 epochs, on 8-frame Sprites videos: training
settings, which belong in the run config, not here.

Method options (defaults keep the source's model): ``beta_f`` weights KL(q(f|x) || p(f)) in the gradient
only (the value of ``kl`` and so the reported ELBO stay the ELBO's: ``beta_f * kl - (beta_f - 1) *
kl.detach()``), to push what can live in z_{1:T} (the direction a character faces) out of f;
``learn_likelihood_std`` learns one std of p(x_t | f, z_t) (floor ``min_likelihood_std``), a proper
ELBO term; ``decoder_channels`` / ``decoder_refine`` widen the decoder and add kernel-3 conv blocks at
full resolution. ``contrastive_weight`` / ``mi_weight`` add, in training only, C-DSVAE's terms (Bai,
Wang & Gomes, "Contrastively Disentangled Sequential Variational Autoencoder", NeurIPS 2021): InfoNCE
(:func:`info_nce`, cosine similarity, ``contrastive_temperature``) between the posterior mean of f and
that of a content-preserving augmentation (frames shuffled, :func:`content_augment`), and between the
posterior means of z_{1:T} and those of a motion-preserving augmentation (colour channels permuted,
:func:`motion_augment`), the other videos of the batch as negatives; and the minibatch-weighted-sampling
estimate of MI(f; z_{1:T}) (:func:`mws_mutual_information`) as a penalty. They enter the gradient the same
way (``recon_log_prob`` keeps its value), so logged losses stay comparable across options; their values
are in ``ModelOutput.terms`` (``nce_f``, ``nce_z``, ``mi_fz``).

BatchNorm: in training mode a frame's encoding depends on the other frames of the batch (batch
statistics); in ``eval()`` mode every q(z_t) of the factorized posterior depends on frame t alone.
Videos must have all their frames (a ``mask`` with padding is refused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from seqvae.data.batch import Batch
from seqvae.distributions import diagonal_gaussian, standard_normal, std_from_raw
from seqvae.errors import ConfigError, DataError
from seqvae.models.base import VAE, ModelOutput, register_model

# the reference implementations' summed squared error on [-1, 1] frames: variance 1/2 there,
# std 1/sqrt(2) / 2 in [0, 1] units
REFERENCE_STD = 1.0 / (2.0 * math.sqrt(2.0))
LEAK = 0.2


@dataclass
class DSAEConfig:
    """Settings of the Disentangled Sequential Autoencoder (sizes of ``dsae-paper`` by default)."""

    kind: str = "dsae"
    frame_size: int = 64  # H = W of each frame
    channels: int = 3  # colour channels per frame
    frames: int = 8  # T of generated videos (training videos may have any fixed length)
    layout: Literal["channels-first", "channels-last"] = "channels-first"  # (B,T,C,H,W) or (B,T,H,W,C)
    conv_channels: int = 256  # channels of every hidden (transposed) convolution
    kernel: int = 5  # odd; padding kernel // 2
    strides: list[int] = field(default_factory=lambda: [1, 2, 2, 2])  # encoder; the decoder runs them reversed
    fc_hidden: int = 4096  # conv -> fc_hidden -> frame_features; decoder [f, z] -> fc_hidden -> conv
    frame_features: int = 2048  # per-frame encoding read by the LSTMs
    f_dim: int = 256  # static (content) latent
    z_dim: int = 32  # dynamic latent per frame
    hidden: int = 512  # bi-LSTM of q(f); bi-LSTM and RNN of the full q(z)
    factorized_hidden: int = 512  # hidden layer of the factorized q(z_t | x_t)
    prior_hidden: int = 512  # LSTMCell of the prior over z_t
    posterior: Literal["factorized", "full"] = "full"
    posterior_feedback: bool = False  # full q only: the RNN also reads z_{t-1}
    likelihood_std: float = REFERENCE_STD  # fixed std of p(x_t | f, z_t), in [0, 1] data units
    min_std: float = 1e-4  # floor on every posterior and prior std
    batchnorm: bool = True  # BatchNorm after every hidden conv / fc layer
    # -- method options (defaults: the source's DSAE) ---------------------------------------------
    decoder_channels: int | None = None  # channels of the decoder's hidden transposed convs (None: conv_channels)
    decoder_refine: int = 0  # extra kernel-3 stride-1 conv blocks at full resolution before the output layer
    learn_likelihood_std: bool = False  # one learned std of p(x_t | f, z_t), started at likelihood_std
    min_likelihood_std: float = 0.01  # floor of the learned std
    # weight of KL(q(f|x) || p(f)) in the gradient (the reported ELBO keeps weight 1; see "Method options")
    beta_f: float = 1.0
    # C-DSVAE (Bai et al. 2021): InfoNCE between f of a video and of its frame-shuffled copy, and between
    # z_{1:T} of a video and of its colour-permuted copy, and the MWS estimate of MI(f; z); training only
    contrastive_weight: float = 0.0
    mi_weight: float = 0.0
    contrastive_temperature: float = 0.5

    def __post_init__(self) -> None:
        for name in ("frame_size", "channels", "frames", "conv_channels", "kernel", "fc_hidden", "frame_features",
                     "f_dim", "z_dim", "hidden", "factorized_hidden", "prior_hidden"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.kernel % 2 != 1:
            raise ConfigError(f"model.kernel must be odd (padding kernel // 2 keeps sizes exact), got {self.kernel}")
        if not self.strides or any(s < 1 for s in self.strides):
            raise ConfigError(f"model.strides must be a non-empty list of strides >= 1, got {self.strides}")
        if self.frame_size % math.prod(self.strides):
            raise ConfigError(
                f"model.frame_size {self.frame_size} is not divisible by the product of model.strides "
                f"{self.strides} ({math.prod(self.strides)}); the decoder could not mirror the encoder exactly"
            )
        if self.likelihood_std <= 0 or self.min_std <= 0:
            raise ConfigError("model.likelihood_std and model.min_std must be > 0")
        if self.posterior_feedback and self.posterior != "full":
            raise ConfigError("model.posterior_feedback goes with posterior: full")
        if self.decoder_channels is not None and self.decoder_channels < 1:
            raise ConfigError(f"model.decoder_channels must be >= 1, got {self.decoder_channels}")
        if self.decoder_refine < 0:
            raise ConfigError(f"model.decoder_refine must be >= 0, got {self.decoder_refine}")
        if self.min_likelihood_std <= 0 or (self.learn_likelihood_std and self.likelihood_std < self.min_likelihood_std):
            raise ConfigError("model.min_likelihood_std must be > 0 and <= model.likelihood_std")
        if self.beta_f < 0 or self.contrastive_weight < 0 or self.mi_weight < 0:
            raise ConfigError("model.beta_f, model.contrastive_weight and model.mi_weight must be >= 0")
        if self.contrastive_temperature <= 0:
            raise ConfigError(f"model.contrastive_temperature must be > 0, got {self.contrastive_temperature}")

    @property
    def final_size(self) -> int:
        """Height = width of the last convolution's output (8 for ``dsae-paper``)."""
        return self.frame_size // math.prod(self.strides)

    @property
    def frame_values(self) -> int:
        """Values per frame, C * H * W: what ``features`` must be."""
        return self.channels * self.frame_size * self.frame_size


def _block(layer: nn.Module, channels: int, batchnorm: bool, dims: int) -> nn.Sequential:
    """layer -> BatchNorm (optional) -> LeakyReLU(0.2)."""
    norm: list[nn.Module] = []
    if batchnorm:
        norm = [nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)]
    return nn.Sequential(layer, *norm, nn.LeakyReLU(LEAK))


class FrameEncoder(nn.Module):
    """Frames ``(N, C, H, W)`` in [-1, 1] -> encodings ``(N, frame_features)``."""

    def __init__(self, cfg: DSAEConfig) -> None:
        super().__init__()
        pad, width = cfg.kernel // 2, cfg.conv_channels
        self.conv = nn.Sequential(*(
            _block(nn.Conv2d(cfg.channels if i == 0 else width, width, cfg.kernel, s, pad), width, cfg.batchnorm, 2)
            for i, s in enumerate(cfg.strides)
        ))  # fmt: skip
        self.fc = nn.Sequential(
            _block(nn.Linear(width * cfg.final_size**2, cfg.fc_hidden), cfg.fc_hidden, cfg.batchnorm, 1),
            _block(nn.Linear(cfg.fc_hidden, cfg.frame_features), cfg.frame_features, cfg.batchnorm, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x).flatten(1))


class FrameDecoder(nn.Module):
    """Codes ``(N, f_dim + z_dim)`` -> frames ``(N, C, H, W)``, tanh output in [-1, 1]."""

    def __init__(self, cfg: DSAEConfig) -> None:
        super().__init__()
        pad, size = cfg.kernel // 2, cfg.final_size
        width = cfg.decoder_channels or cfg.conv_channels
        self.start_shape = (width, size, size)
        self.fc = nn.Sequential(
            _block(nn.Linear(cfg.f_dim + cfg.z_dim, cfg.fc_hidden), cfg.fc_hidden, cfg.batchnorm, 1),
            _block(nn.Linear(cfg.fc_hidden, width * size**2), width * size**2, cfg.batchnorm, 1),
        )
        strides = list(reversed(cfg.strides))
        layers: list[nn.Module] = []
        for i, s in enumerate(strides):
            last = i == len(strides) - 1
            if last:  # decoder_refine: more nonlinearity at full resolution (sharper small parts)
                layers += [_block(nn.Conv2d(width, width, 3, 1, 1), width, cfg.batchnorm, 2) for _ in range(cfg.decoder_refine)]
            # out = (in - 1) s - 2 pad + kernel + (s - 1) = in * s for an odd kernel
            conv = nn.ConvTranspose2d(width, cfg.channels if last else width, cfg.kernel, s, pad, output_padding=s - 1)
            layers.append(nn.Sequential(conv, nn.Tanh()) if last else _block(conv, width, cfg.batchnorm, 2))
        self.deconv = nn.Sequential(*layers)

    def forward(self, code: Tensor) -> Tensor:
        return self.deconv(self.fc(code).reshape(len(code), *self.start_shape))


def _gradient_weighted(value: Tensor, weight: float) -> Tensor:
    """``value`` unchanged, with its gradient multiplied by ``weight``."""
    return weight * value - (weight - 1.0) * value.detach()


def info_nce(anchor: Tensor, positive: Tensor, temperature: float) -> Tensor:
    """InfoNCE loss per row (van den Oord et al. 2018): row i of ``positive`` is the positive of row i of
    ``anchor``, the other rows its negatives; cosine similarities over ``temperature``. Shape ``(B,)``."""
    a = nn.functional.normalize(anchor, dim=-1)
    p = nn.functional.normalize(positive, dim=-1)
    logits = a @ p.T / temperature
    return nn.functional.cross_entropy(logits, torch.arange(len(a), device=a.device), reduction="none")


def mws_mutual_information(log_qf: Tensor, log_qz: Tensor) -> Tensor:
    """Minibatch-weighted-sampling estimate of MI(f; z) per example (Chen et al. 2018, as used by S3VAE and
    C-DSVAE): ``log_q*[i, j] = log q(.(i) | x_j)``; log q(f_i, z_i) - log q(f_i) - log q(z_i) with each
    aggregate posterior the batch mean of the per-video posteriors. Shape ``(B,)``."""
    b = log_qf.shape[0]
    joint = torch.logsumexp(log_qf + log_qz, dim=1)
    return joint - torch.logsumexp(log_qf, dim=1) - torch.logsumexp(log_qz, dim=1) + math.log(b)


def content_augment(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """C-DSVAE's content-preserving augmentation: each video's frames in a random order ``(B, T, ...)``."""
    keys = torch.rand(x.shape[:2], generator=generator, device=x.device)
    order = keys.argsort(dim=1)
    return x[torch.arange(len(x), device=x.device)[:, None], order]


def motion_augment(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A motion-preserving augmentation (C-DSVAE uses colour distortion): each video's colour channels
    permuted at random, frames ``(B, T, C, H, W)``; the shapes, and so the motion, stay."""
    b, c = x.shape[0], x.shape[2]
    order = torch.rand(b, c, generator=generator, device=x.device).argsort(dim=1)
    return x[torch.arange(b, device=x.device)[:, None], :, order].transpose(1, 2)


@dataclass
class VideoParts:
    """A batch's two latents: q(f|x) ``(B, f_dim)``, q(z_t | .) ``(B, T)`` x ``z_dim`` and the codes used.

    ``z_posterior`` holds the per-step Gaussians along the path ``z`` (for the full posterior, given
    ``f``; with feedback, given the earlier steps of ``z``).
    """

    f_posterior: Independent
    z_posterior: Independent
    f: Tensor  # (B, f_dim)
    z: Tensor  # (B, T, z_dim)


@register_model
class DSAE(VAE):
    """Disentangled Sequential Autoencoder: static f and dynamic z_t with an LSTM prior; conv frame coder."""

    kind = "dsae"
    config_class = DSAEConfig
    sequence_input = False  # batches hold whole videos (B, T, C, H, W), not padded feature sequences
    video_input: ClassVar[bool] = True
    supports_keep: ClassVar[bool] = True  # keep_and_resample: f is the content, z_{1:T} the dynamics

    def __init__(self, config: DSAEConfig, features: int) -> None:
        super().__init__(config, features)
        if self.features != config.frame_values:
            raise ConfigError(
                f"dsae models frames of {config.channels}x{config.frame_size}x{config.frame_size} "
                f"= {config.frame_values} values; the data have {features} values per frame"
            )
        cfg = config
        self.encoder = FrameEncoder(cfg)
        self.decoder = FrameDecoder(cfg)
        if cfg.learn_likelihood_std:
            # std = min + softplus(raw), started at likelihood_std
            start = cfg.likelihood_std - cfg.min_likelihood_std
            raw = math.log(math.expm1(start)) if start > 0 else -20.0
            self.likelihood_raw_std = nn.Parameter(torch.tensor(raw))
        # q(f | x_{1:T})
        self.f_lstm = nn.LSTM(cfg.frame_features, cfg.hidden, batch_first=True, bidirectional=True)
        self.f_out = nn.Linear(2 * cfg.hidden, 2 * cfg.f_dim)
        # q(z_t | x_t) or q(z_{1:T} | x_{1:T}, f)
        if cfg.posterior == "factorized":
            self.z_mlp = nn.Sequential(nn.Linear(cfg.frame_features, cfg.factorized_hidden), nn.LeakyReLU(LEAK))
            self.z_out = nn.Linear(cfg.factorized_hidden, 2 * cfg.z_dim)
        else:
            self.z_lstm = nn.LSTM(cfg.frame_features + cfg.f_dim, cfg.hidden, batch_first=True, bidirectional=True)
            if cfg.posterior_feedback:
                self.z_rnn_cell = nn.RNNCell(2 * cfg.hidden + cfg.z_dim, cfg.hidden)
            else:
                self.z_rnn = nn.RNN(2 * cfg.hidden, cfg.hidden, batch_first=True)
            self.z_out = nn.Linear(cfg.hidden, 2 * cfg.z_dim)
        # p(z_t | z_{<t})
        self.prior_cell = nn.LSTMCell(cfg.z_dim, cfg.prior_hidden)
        self.prior_out = nn.Linear(cfg.prior_hidden, 2 * cfg.z_dim)

    # -- shapes --------------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.config.f_dim)

    def _ref(self) -> Tensor:
        return self.f_out.weight

    def _video(self, batch: Batch) -> Tensor:
        """The batch's frames as ``(B, T, C, H, W)`` in the data's units, checked."""
        cfg = self.config
        x = batch.values
        frame = (cfg.channels, cfg.frame_size, cfg.frame_size)
        if cfg.layout == "channels-last":
            frame = (cfg.frame_size, cfg.frame_size, cfg.channels)
        if x.dim() != 5 or tuple(x.shape[2:]) != frame or x.shape[1] < 1:
            raise DataError(
                f"dsae ({cfg.layout}) expects videos of shape (batch, time, {', '.join(map(str, frame))}) "
                f"with at least one frame, got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise DataError(f"dsae expects float frames in [0, 1], got dtype {x.dtype}")
        if batch.mask is not None and not bool(batch.mask.all()):
            raise DataError("dsae needs whole videos: every frame must be real (the batch mask has padded frames)")
        if not bool(torch.isfinite(x).all()):
            video = int((~torch.isfinite(x)).flatten(1).any(1).float().argmax())
            raise DataError(f"dsae: frames contain NaN or infinite values (first in video {video} of the batch)")
        return x.permute(0, 1, 4, 2, 3) if cfg.layout == "channels-last" else x

    def _to_layout(self, frames: Tensor) -> Tensor:
        """``(N, T, C, H, W)`` -> the model's layout."""
        return frames.permute(0, 1, 3, 4, 2) if self.config.layout == "channels-last" else frames

    # -- networks ------------------------------------------------------------------------------
    def _features(self, x: Tensor) -> Tensor:
        """Frame encodings ``(B, T, frame_features)`` of frames ``(B, T, C, H, W)`` in [0, 1]."""
        b, t = x.shape[:2]
        return self.encoder((2.0 * x - 1.0).reshape(b * t, *x.shape[2:])).reshape(b, t, -1)

    def _f_posterior(self, feats: Tensor) -> Independent:
        out, _ = self.f_lstm(feats)
        h = self.config.hidden
        # forward direction after the last frame, backward direction after (reading back to) the first
        summary = torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1)
        mean, raw = self.f_out(summary).chunk(2, dim=-1)
        return diagonal_gaussian(mean, std_from_raw(raw, self.config.min_std))

    def _z_posterior(
        self, feats: Tensor, f: Tensor, sample: bool, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Per-step means, stds and the path z ``(B, T, z_dim)``: a reparameterised draw or the means."""
        cfg = self.config
        if cfg.posterior == "factorized":
            mean, std = self._gaussian(self.z_out(self.z_mlp(feats)))
            return mean, std, self._draw(mean, std, sample, generator)
        g, _ = self.z_lstm(torch.cat([feats, f[:, None, :].expand(-1, feats.shape[1], -1)], dim=-1))
        if not cfg.posterior_feedback:
            out, _ = self.z_rnn(g)
            mean, std = self._gaussian(self.z_out(out))
            return mean, std, self._draw(mean, std, sample, generator)
        h = g.new_zeros(len(g), cfg.hidden)
        z_prev = g.new_zeros(len(g), cfg.z_dim)
        means, stds, zs = [], [], []
        for t in range(g.shape[1]):
            h = self.z_rnn_cell(torch.cat([g[:, t], z_prev], dim=-1), h)
            mean, std = self._gaussian(self.z_out(h))
            z_prev = self._draw(mean, std, sample, generator)
            means.append(mean)
            stds.append(std)
            zs.append(z_prev)
        return torch.stack(means, 1), torch.stack(stds, 1), torch.stack(zs, 1)

    def _gaussian(self, params: Tensor) -> tuple[Tensor, Tensor]:
        mean, raw = params.chunk(2, dim=-1)
        return mean, std_from_raw(raw, self.config.min_std)

    @staticmethod
    def _draw(mean: Tensor, std: Tensor, sample: bool, generator: torch.Generator | None) -> Tensor:
        if not sample:
            return mean
        if generator is None:
            return mean + std * torch.randn_like(std)
        noise = torch.randn(std.shape, generator=generator, dtype=std.dtype, device=generator.device)
        return mean + std * noise.to(std.device)

    def _prior_params(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Means and stds ``(B, T, z_dim)`` of p(z_t | z_{<t}) along the path ``z``."""
        b, t, _ = z.shape
        state = (z.new_zeros(b, self.config.prior_hidden), z.new_zeros(b, self.config.prior_hidden))
        prev = torch.cat([z.new_zeros(b, 1, self.config.z_dim), z[:, :-1]], dim=1)
        hs = []
        for step in range(t):
            state = self.prior_cell(prev[:, step], state)
            hs.append(state[0])
        return self._gaussian(self.prior_out(torch.stack(hs, 1)))

    def _likelihood(self, f: Tensor, z: Tensor) -> Independent:
        """p(x_{1:T} | f, z_{1:T}): batch shape ``(N, T)``, event one frame in the model's layout."""
        n, t, _ = z.shape
        code = torch.cat([f[:, None, :].expand(-1, t, -1), z], dim=-1).reshape(n * t, -1)
        frames = self.decoder(code).reshape(n, t, *self.decoder_output_shape)
        mean = self._to_layout((frames + 1.0) / 2.0)
        return Independent(Normal(mean, self.likelihood_std.to(mean).expand_as(mean)), 3)

    @property
    def likelihood_std(self) -> Tensor:
        """The std of p(x_t | f, z_t) in [0, 1] data units (learned with ``learn_likelihood_std``)."""
        cfg = self.config
        if cfg.learn_likelihood_std:
            return std_from_raw(self.likelihood_raw_std, cfg.min_likelihood_std)
        return torch.tensor(cfg.likelihood_std)

    @property
    def decoder_output_shape(self) -> tuple[int, int, int]:
        cfg = self.config
        return (cfg.channels, cfg.frame_size, cfg.frame_size)

    # -- protocol ------------------------------------------------------------------------------
    def encode(self, batch: Batch) -> Distribution:
        """q(f | x_{1:T}): the content code, batch shape ``(B,)``, event ``(f_dim,)``."""
        return self._f_posterior(self._features(self._video(batch)))

    def decode(self, z: Tensor, batch: Batch | None = None) -> Distribution:
        """p(x | f, z_{1:T}) for content codes ``z`` = f ``(N, f_dim)``: the dynamics are the posterior
        means of ``batch``'s videos given f, or (no batch) a draw from the prior over ``frames`` steps
        (torch's global RNG)."""
        if batch is not None:
            dyn = self.encode_dynamics(batch, z)
            return self._likelihood(z, dyn.mean)
        return self._likelihood(z, self.sample_dynamics(len(z), self.config.frames))

    def log_likelihood(self, likelihood: Distribution, batch: Batch) -> Tensor:
        """log p(x_{1:T} | f, z_{1:T}) per video, summed over frames and pixels: ``(B,)``."""
        self._video(batch)  # checks
        return likelihood.log_prob(batch.values).sum(-1)

    def forward(self, batch: Batch) -> ModelOutput:
        x = self._video(batch)
        feats = self._features(x)
        qf = self._f_posterior(feats)
        f = qf.rsample()
        zq_mean, zq_std, z = self._z_posterior(feats, f, sample=True)
        zp_mean, zp_std = self._prior_params(z)
        pf = standard_normal(f.shape, f)
        kl_f_dims = kl_divergence(qf.base_dist, pf.base_dist)  # (B, f_dim)
        kl_z_dims = kl_divergence(Normal(zq_mean, zq_std), Normal(zp_mean, zp_std)).sum(1)  # (B, z_dim)
        terms: dict[str, Tensor] = {}
        if self.config.beta_f != 1.0:
            kl_f_dims = _gradient_weighted(kl_f_dims, self.config.beta_f)
        kl_f, kl_z = kl_f_dims.sum(-1), kl_z_dims.sum(-1)
        likelihood = self._likelihood(f, z)
        recon = likelihood.log_prob(batch.values).sum(-1)
        cfg = self.config
        if self.training and (cfg.contrastive_weight > 0 or cfg.mi_weight > 0):
            extra = self._contrastive_terms(x, feats, qf, f, zq_mean, zq_std, z)
            penalty = cfg.contrastive_weight * (extra["nce_f"] + extra["nce_z"]) + cfg.mi_weight * extra["mi_fz"]
            recon = recon - (penalty - penalty.detach())  # gradient only: the value stays log p(x | f, z)
            terms.update({k: v.detach() for k, v in extra.items()})
        return ModelOutput(
            posterior=qf,
            prior=pf,
            z=f,
            likelihood=likelihood,
            recon_log_prob=recon,
            kl=kl_f + kl_z,
            kl_per_dim=torch.cat([kl_f_dims, kl_z_dims], dim=-1),
            terms={"kl_f": kl_f, "kl_z": kl_z, **terms},
        )

    # -- C-DSVAE terms (Bai et al. 2021) -----------------------------------------------------------
    def _contrastive_terms(self, x: Tensor, feats: Tensor, qf: Independent, f: Tensor, zq_mean: Tensor,
                           zq_std: Tensor, z: Tensor) -> dict[str, Tensor]:  # fmt: skip
        """Per-video InfoNCE losses of f (content kept under a frame shuffle) and z (motion kept under a
        colour permutation), and the minibatch-weighted-sampling estimate of MI(f; z_{1:T})."""
        cfg = self.config
        x_content = content_augment(x)  # same look, frames in another order
        x_motion = motion_augment(x)  # same motion, other colours
        aug = self._features(torch.cat([x_content, x_motion]))
        feats_c, feats_m = aug.chunk(2)
        f_c = self._f_posterior(feats_c).mean
        f_m = self._f_posterior(feats_m).mean
        z_m, _, _ = self._z_posterior(feats_m, f_m, sample=False)
        nce_f = info_nce(qf.mean, f_c, cfg.contrastive_temperature)
        nce_z = info_nce(zq_mean.flatten(1), z_m.flatten(1), cfg.contrastive_temperature)
        # log q(f_i | x_j) and log q(z_i | x_j) for every pair (i, j): (B, B)
        log_qf = Normal(qf.mean[None], qf.stddev[None]).log_prob(f[:, None]).sum(-1)
        log_qz = Normal(zq_mean[None], zq_std[None]).log_prob(z[:, None]).sum((-1, -2))
        return {"nce_f": nce_f, "nce_z": nce_z, "mi_fz": mws_mutual_information(log_qf, log_qz)}

    def log_weights(self, batch: Batch, k: int) -> Tensor:
        """log p(x|f,z) + log p(f) + log p(z) - log q(f|x) - log q(z|x,f), (f, z) ~ q: shape ``(k, B)``."""
        x = self._video(batch)
        b = len(x)
        feats = self._features(x)  # the frame encoder runs once for all k draws
        qf = self._f_posterior(feats)
        f = qf.rsample((k,))  # (k, B, f_dim)
        flat_f = f.reshape(k * b, -1)
        zq_mean, zq_std, z = self._z_posterior(feats.repeat(k, 1, 1), flat_f, sample=True)
        zp_mean, zp_std = self._prior_params(z)
        log_qz = Normal(zq_mean, zq_std).log_prob(z).sum((1, 2))
        log_pz = Normal(zp_mean, zp_std).log_prob(z).sum((1, 2))
        target = batch.values.repeat(k, 1, 1, 1, 1)
        log_px = self._likelihood(flat_f, z).log_prob(target).sum(-1)
        log_pf = standard_normal(f.shape, f).log_prob(f)
        return (log_px + log_pz - log_qz).reshape(k, b) + log_pf - qf.log_prob(f)

    @torch.no_grad()
    def reconstruct(self, batch: Batch) -> Tensor:
        """Frames decoded from the posterior means of f and z (data range, model layout)."""
        parts = self.encode_parts(batch)
        return self.decode_parts(parts.f, parts.z)

    @torch.no_grad()
    def generate(self, z: Tensor, length: int | None = None) -> tuple[Tensor, Tensor]:
        """Videos for content codes ``z`` = f with dynamics from the prior (global RNG), and their lengths."""
        steps = int(length or self.config.frames)
        frames = self.decode_parts(z, self.sample_dynamics(len(z), steps))
        return frames, torch.full((len(z),), steps, dtype=torch.long, device=z.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mean: bool = True) -> Tensor:
        """``n`` videos from the priors: frame means (``mean``) or draws from p(x | f, z)."""
        if mean:
            return self.generate_videos(n, generator=generator)
        f = self.sample_content(n, generator)
        return self._likelihood(f, self.sample_dynamics(n, self.config.frames, generator)).sample()

    # -- video API -----------------------------------------------------------------------------
    def encode_dynamics(self, batch: Batch, f: Tensor, sample: bool = False,
                        generator: torch.Generator | None = None) -> Independent:  # fmt: skip
        """q(z_t | .) ``(B, T)`` x ``z_dim`` for the batch's videos given content codes ``f`` ``(B, f_dim)``
        (the factorized posterior ignores ``f``); with feedback, along the means (or a draw if ``sample``)."""
        x = self._video(batch)
        if f.shape != (len(x), self.config.f_dim):
            raise ValueError(f"f must have shape ({len(x)}, {self.config.f_dim}), got {tuple(f.shape)}")
        mean, std, _ = self._z_posterior(self._features(x), f, sample, generator)
        return diagonal_gaussian(mean, std)

    def encode_parts(self, batch: Batch, sample: bool = False, generator: torch.Generator | None = None) -> VideoParts:
        """Both posteriors of the batch's videos and the codes: their means, or draws (``sample``) from
        ``generator`` (f first, then z_{1:T} given f)."""
        x = self._video(batch)
        feats = self._features(x)
        qf = self._f_posterior(feats)
        f = self._draw(qf.mean, qf.stddev, sample, generator)
        mean, std, z = self._z_posterior(feats, f, sample, generator)
        return VideoParts(f_posterior=qf, z_posterior=diagonal_gaussian(mean, std), f=f, z=z)

    def decode_parts(self, f: Tensor, z: Tensor) -> Tensor:
        """Frame means for content ``f`` ``(N, f_dim)`` and dynamics ``z`` ``(N, T, z_dim)``: ``(N, T, ...)``
        in [0, 1], in the model's layout."""
        cfg = self.config
        if f.dim() != 2 or f.shape[1] != cfg.f_dim or z.dim() != 3 or z.shape[2] != cfg.z_dim or len(f) != len(z):
            raise ValueError(
                f"decode_parts needs f (N, {cfg.f_dim}) and z (N, T, {cfg.z_dim}); "
                f"got {tuple(f.shape)} and {tuple(z.shape)}"
            )
        return self._likelihood(f, z).mean

    def dynamics_prior(self, z: Tensor) -> Independent:
        """p(z_t | z_{<t}) along the path ``z`` ``(B, T, z_dim)``: batch shape ``(B, T)``, event ``(z_dim,)``."""
        mean, std = self._prior_params(z)
        return diagonal_gaussian(mean, std)

    def sample_content(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` content codes f ~ N(0, I), ``(n, f_dim)``."""
        ref = self._ref()
        dev = generator.device if generator is not None else ref.device
        return torch.randn((n, self.config.f_dim), generator=generator, dtype=ref.dtype, device=dev).to(ref.device)

    @torch.no_grad()
    def sample_dynamics(self, n: int, frames: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` dynamics z_{1:T} drawn step by step from the LSTM prior, ``(n, frames, z_dim)``."""
        cfg, ref = self.config, self._ref()
        state = (ref.new_zeros(n, cfg.prior_hidden), ref.new_zeros(n, cfg.prior_hidden))
        z_prev = ref.new_zeros(n, cfg.z_dim)
        out = []
        for _ in range(int(frames)):
            state = self.prior_cell(z_prev, state)
            mean, std = self._gaussian(self.prior_out(state[0]))
            z_prev = self._draw(mean, std, True, generator)
            out.append(z_prev)
        return torch.stack(out, 1) if out else ref.new_zeros(n, 0, cfg.z_dim)

    @torch.no_grad()
    def generate_videos(self, n: int, frames: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` new videos of ``frames`` (default ``config.frames``) frames: f ~ p(f), then z_{1:T} ~ p(z)
        (both from ``generator``), decoded to frame means in [0, 1]."""
        f = self.sample_content(n, generator)
        z = self.sample_dynamics(n, int(frames or self.config.frames), generator)
        return self.decode_parts(f, z)

    @torch.no_grad()
    def swap(self, batch_a: Batch, batch_b: Batch) -> Tensor:
        """Videos with the content of ``batch_a`` and the dynamics of ``batch_b`` (posterior means; for the
        full posterior b's z is inferred with b's own f)."""
        if len(batch_a) != len(batch_b):
            raise ValueError(f"swap needs batches of the same size, got {len(batch_a)} and {len(batch_b)}")
        return self.decode_parts(self.encode_parts(batch_a).f, self.encode_parts(batch_b).z)

    @torch.no_grad()
    def keep_and_resample(self, batch: Batch, keep: Literal["content", "dynamics"], draws: int = 1,
                          generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        """The disentanglement protocol's videos: ``keep="content"`` keeps each video's f (posterior mean) and
        draws z_{1:T} from the prior; ``keep="dynamics"`` keeps its z_{1:T} (posterior means, given its own f
        for the full posterior) and draws f from p(f). ``draws`` videos per input video, video-major (rows
        ``i * draws ... (i + 1) * draws - 1`` come from video ``i``). Returns ``(f, z, frames)``."""
        if keep not in ("content", "dynamics"):
            raise ValueError(f"keep must be 'content' or 'dynamics', got {keep!r}")
        if draws < 1:
            raise ValueError(f"draws must be >= 1, got {draws}")
        parts = self.encode_parts(batch)
        f, z = parts.f.repeat_interleave(draws, 0), parts.z.repeat_interleave(draws, 0)
        if keep == "content":
            z = self.sample_dynamics(len(f), z.shape[1], generator)
        else:
            f = self.sample_content(len(z), generator)
        return f, z, self.decode_parts(f, z)

    @torch.no_grad()
    def resample_dynamics(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """The batch's content (posterior mean of f) with new dynamics drawn from the prior."""
        return self.keep_and_resample(batch, "content", 1, generator)[2]

    @torch.no_grad()
    def resample_content(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """The batch's dynamics (posterior means) with new content f drawn from the prior."""
        return self.keep_and_resample(batch, "dynamics", 1, generator)[2]
