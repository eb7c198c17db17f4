"""A Sketch-RNN-style VAE for pen strokes with a mixture-density likelihood (Ha & Eck 2017).

Data: one step per point in relative (de Jong) form ``(dx, dy, pen_up)``. Row 0 holds the first
point's absolute position, every later row the offset from the previous point, and ``pen_up`` is
1 on the last point of each stroke (the pen lifts after it), else 0. Values are in the data's own
units (pixels; the data config should say ``normalize: false``, since pen_up is binary).

Model (``kind: stroke-mdn``):

* encoder: a (by default bidirectional) LSTM over the real steps (:class:`RecurrentEncoder`, which
  packs the batch so padding cannot reach it), then a Gaussian q(z|x);
* decoder: an autoregressive LSTM whose initial (h, c) is ``tanh(W z + b)`` and whose input at step
  t is ``[x_{t-1}, z]`` (zeros in place of ``x_{-1}``). ``decode(z, batch)`` is always
  teacher-forced on ``batch.values`` (training, the ELBO, the IWAE bound and the importance-sampled
  log p(x) alike), so p(x|z) = prod_t p(x_t | x_<t, z) is an exact density;
* per step the decoder outputs a :class:`~seqvae.distributions.StrokeDistribution`: a mixture of
  ``mixtures`` bivariate Gaussians over (dx, dy) (softmax weights, softplus stds with a floor
  ``min_std``, correlation ``max_rho * tanh``) times a Bernoulli over pen_up. log p(x|z) sums
  log p(dx, dy) + log p(pen_up) over the real steps only. Row 0, the absolute start position, is
  modelled by the same mixture as the offsets (its first step simply learns a wider, shifted
  component); nothing treats it specially.

``reconstruct`` decodes the posterior mean teacher-forced on the input, so its rows are one-step-
ahead predictions given the true previous points (mixture mean of (dx, dy), pen_up thresholded at
1/2), not a free-running redraw. ``generate(z, length)`` runs free: at each step it samples a
component, then (dx, dy) from it and pen_up from its Bernoulli, at the temperature
``generation_temperature`` (Sketch-RNN's τ: logits / τ, variances × τ), and feeds the sample back.
Draws come from torch's global RNG: ``torch.manual_seed`` (or the CLI's ``--seed``) makes them
repeatable. There is no end-of-sketch state: sequences run ``length`` steps (``max_length`` when not
given), and lengths are always given while training (``end_of_sequence`` must stay false).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from seqvae.data.batch import Batch
from seqvae.data.sequences import SequenceBatch
from seqvae.distributions import StrokeDistribution, StrokeMixtureHead, diagonal_gaussian, masked_log_prob, std_from_raw
from seqvae.errors import ConfigError, DataError
from seqvae.models.base import VAE, register_model, sample_sequences
from seqvae.models.recurrent import RecurrentEncoder, _lengths_and_mask

STROKE_FEATURES = 3  # dx, dy, pen_up


@dataclass
class StrokeMDNConfig:
    """Settings of the Sketch-RNN-style stroke VAE (lengths and stds in the data's units)."""

    kind: str = "stroke-mdn"
    latent_dim: int = 16
    hidden: int = 64  # encoder LSTM size (per direction)
    layers: int = 1  # encoder layers
    bidirectional: bool = True  # encoder reads the sequence both ways (Sketch-RNN's)
    decoder_hidden: int = 128
    decoder_layers: int = 1
    mixtures: int = 10  # K bivariate Gaussians over (dx, dy)
    min_std: float = 0.01  # floor on each component's std (data units): bounds the density on integer data
    max_rho: float = 0.95  # |correlation| bound of each component
    offset_scale: float = 1.0  # data units per network unit: RNN inputs (dx, dy) are divided by it, means/stds multiplied
    generation_temperature: float = 0.5  # Sketch-RNN's τ for generate()
    max_length: int = 100  # steps generated when no length is given
    end_of_sequence: bool = False  # lengths are given; there is no stop/end-of-sketch head
    dropout: float = 0.0  # between stacked encoder layers, and on the decoder's outputs (one mask per sequence)
    # word dropout (Bowman et al. 2016): while training, each teacher-forced input (the previous step) is
    # replaced by zeros with this probability, so the decoder has to take where it is from z; 1 makes the
    # decoder non-autoregressive: it never reads previous steps (training, evaluation and generation alike)
    input_dropout: float = 0.0
    min_posterior_std: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("latent_dim", "hidden", "layers", "decoder_hidden", "decoder_layers", "mixtures", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("min_std", "offset_scale", "generation_temperature", "min_posterior_std"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"model.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.max_rho < 1.0:
            raise ConfigError(f"model.max_rho must be in (0, 1), got {self.max_rho}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.input_dropout <= 1.0:
            raise ConfigError(f"model.input_dropout must be in [0, 1], got {self.input_dropout}")
        if self.end_of_sequence:
            raise ConfigError(
                "model.end_of_sequence: stroke-mdn has no end-of-sequence head; lengths come from the data "
                "(generation runs the requested length, or max_length)"
            )


@register_model
class StrokeMDNVAE(VAE):
    """Sketch-RNN-style VAE: BiLSTM encoder -> z -> autoregressive LSTM -> mixture of bivariate Gaussians + pen."""

    kind = "stroke-mdn"
    config_class = StrokeMDNConfig
    sequence_input = True

    def __init__(self, config: StrokeMDNConfig, features: int) -> None:
        super().__init__(config, features)
        if self.features != STROKE_FEATURES:
            raise ConfigError(f"stroke-mdn models (dx, dy, pen_up) steps: 3 features per step, the data have {features}")
        self.head = StrokeMixtureHead(config.mixtures, config.min_std, config.max_rho, config.offset_scale)
        self.encoder = RecurrentEncoder(
            STROKE_FEATURES, config.hidden, config.layers, "lstm", config.bidirectional, config.dropout
        )
        self.to_posterior = nn.Linear(self.encoder.out_size, 2 * config.latent_dim)
        hidden, layers = config.decoder_hidden, config.decoder_layers
        self.to_state = nn.Linear(config.latent_dim, 2 * layers * hidden)
        self.decoder = nn.LSTM(STROKE_FEATURES + config.latent_dim, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, self.head.num_params)
        self.register_buffer("input_scale", torch.tensor([1.0 / config.offset_scale] * 2 + [1.0]), persistent=False)

    # -- inputs ------------------------------------------------------------------------------
    def _check(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """Values with padded steps zeroed (they may hold NaN), lengths and mask."""
        x = batch.values
        if x.dim() != 3 or x.shape[-1] != STROKE_FEATURES:
            raise DataError(f"stroke-mdn expects sequences of shape (batch, time, 3), got {tuple(x.shape)}")
        lengths, mask = _lengths_and_mask(batch)
        if bool((lengths < 1).any()):
            raise DataError("every sequence needs at least one step")
        return torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device)), lengths, mask

    def initial_state(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Decoder (h0, c0), each ``(layers, N, hidden)``: tanh of one linear map of z (Sketch-RNN)."""
        layers, hidden = self.config.decoder_layers, self.config.decoder_hidden
        state = torch.tanh(self.to_state(z)).reshape(len(z), 2, layers, hidden).permute(1, 2, 0, 3)
        return state[0].contiguous(), state[1].contiguous()

    def _dropout_mask(self, z: Tensor) -> Tensor | None:
        """One dropout mask per sequence ``(N, 1, H)``, shared by all steps (so padding cannot change it)."""
        p = self.config.dropout
        if not self.training or p == 0:
            return None
        keep = torch.rand(len(z), 1, self.config.decoder_hidden, device=z.device) >= p
        return keep.to(z.dtype) / (1 - p)

    def _step_params(
        self, z: Tensor, prev: Tensor, state: tuple[Tensor, Tensor], drop: Tensor | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Decoder outputs ``(N, S, 6K+1)`` for inputs ``prev`` ``(N, S, 3)`` (previous steps, data units)."""
        inp = torch.cat([prev * self.input_scale, z[:, None, :].expand(-1, prev.shape[1], -1)], dim=-1)
        out, state = self.decoder(inp, state)
        if drop is not None:
            out = out * drop
        return self.out(out), state

    # -- protocol ----------------------------------------------------------------------------
    def encode(self, batch: Batch) -> Distribution:
        x, lengths, _ = self._check(batch)
        mean, raw = self.to_posterior(self.encoder(x * self.input_scale, lengths)).chunk(2, dim=-1)
        return diagonal_gaussian(mean, std_from_raw(raw, self.config.min_posterior_std))

    def decode(self, z: Tensor, batch: Batch | None = None) -> StrokeDistribution:
        """p(x_t | x_<t, z) for every step of ``batch``, teacher-forced on ``batch.values``: batch shape ``(N, T)``.

        Step t sees only steps < t; padded steps are zeroed before they are fed back (and only ever
        reach later, padded, steps). Sequences without data come from :meth:`generate`.
        """
        if batch is None:
            raise ValueError("stroke-mdn decodes teacher-forced on a batch; draw new sequences with generate(z, length)")
        x, _, _ = self._check(batch)
        if len(x) != len(z):
            raise ValueError(f"decode got {len(z)} latent codes for a batch of {len(x)} sequences")
        prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        p = self.config.input_dropout
        if p >= 1:
            prev = torch.zeros_like(prev)
        elif self.training and p > 0:
            # one coin per (sequence, step) drawn over at least max_length steps, then cut to this batch's:
            # padding a batch (up to max_length) leaves the coins of its real steps as they were
            steps = prev.shape[1]
            coins = torch.rand(len(prev), max(steps, self.config.max_length), device=prev.device)[:, :steps]
            prev = prev * (coins >= p)[..., None].to(prev.dtype)
        params, _ = self._step_params(z, prev, self.initial_state(z), self._dropout_mask(z))
        return self.head(params)

    def log_likelihood(self, likelihood: Distribution, batch: Batch) -> Tensor:
        """sum over real steps of log p(dx, dy) + log p(pen_up): ``(B,)``; padded steps never enter."""
        _, mask = _lengths_and_mask(batch)
        return masked_log_prob(likelihood, batch.values, mask)

    def point(self, likelihood: Distribution) -> Tensor:
        """Per step: mixture mean of (dx, dy) and pen_up = 1 where P(pen_up) > 1/2 (one-step-ahead under teacher forcing)."""
        assert isinstance(likelihood, StrokeDistribution)
        return likelihood.point()

    @torch.no_grad()
    def generate(
        self, z: Tensor, length: int | None = None, temperature: float | None = None
    ) -> tuple[Tensor, Tensor]:
        """Free-running samples ``(N, length, 3)`` (data units, pen_up in {0, 1}) and their lengths ``(N,)``.

        Each step samples a mixture component, (dx, dy) from it and pen_up from its Bernoulli at
        ``temperature`` (default ``generation_temperature``) and feeds the draw back as the next
        input. Uses torch's global RNG: seed it with ``torch.manual_seed`` for repeatable draws.
        """
        steps = int(length or self.config.max_length)
        tau = float(self.config.generation_temperature if temperature is None else temperature)
        state = self.initial_state(z)
        prev = torch.zeros(len(z), 1, STROKE_FEATURES, dtype=z.dtype, device=z.device)
        out = []
        for _ in range(steps):
            params, state = self._step_params(z, prev, state, None)
            prev = self.head(params).tempered(tau).sample()  # (N, 1, 3)
            out.append(prev)
            if self.config.input_dropout >= 1:  # non-autoregressive: the draws are never fed back
                prev = torch.zeros_like(prev)
        values = torch.cat(out, dim=1) if out else torch.zeros(len(z), 0, STROKE_FEATURES, dtype=z.dtype, device=z.device)
        return values, torch.full((len(z),), steps, dtype=torch.long, device=z.device)

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, mean: bool = True, length: int | None = None
    ) -> SequenceBatch:
        """``n`` sequences generated from z ~ p(z) (``generator`` draws z; the strokes use the global RNG)."""
        return sample_sequences(self, n, generator, length)
