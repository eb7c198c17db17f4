"""Recurrent VAEs for variable-length sequences.

* :class:`VRAE` (source 000, Fabius & van Amersfoort's variational recurrent autoencoder): an
  RNN encoder reads the masked sequence, q(z|x) is Gaussian, z sets the decoder's initial
  state, and the decoder is fed its own previous output at every step (free-running), with
  optional teacher forcing and scheduled sampling while training.
* :class:`StackedLSTMVAE` (source 001, pen strokes): 2 stacked LSTM-512 encoder, FC μ and σ of
  size 64; the decoder reads z at every step through an LSTM-512 and then an LSTM to the output
  size.

Length of generated sequences: with ``end_of_sequence: true`` (the default) the decoder also
predicts, at each step, the probability that the sequence ends there; it is trained as part of
log p(x|z) (a Bernoulli "stop" term on every real step), and generation ends a sequence at the
first step whose stop probability exceeds 1/2. A length given by the user (``length=``,
``--length``) always takes precedence; without either, sequences run ``max_length`` steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from seqvae.data.batch import Batch
from seqvae.data.sequences import SequenceBatch, length_mask
from seqvae.distributions import (
    LikelihoodConfig,
    build_likelihood,
    diagonal_gaussian,
    masked_log_prob,
    masked_sum,
    std_from_raw,
)
from seqvae.errors import ConfigError, DataError
from seqvae.models.base import VAE, register_model, sample_sequences

STOP_THRESHOLD = 0.5


class SequenceLikelihood(Distribution):
    """p(x_1..x_T, T | z): a per-step distribution over features and, optionally, per-step stop logits."""

    arg_constraints: dict[str, Any] = {}

    def __init__(self, steps: Distribution, stop_logits: Tensor | None = None) -> None:
        self.steps = steps
        self.stop_logits = stop_logits
        super().__init__(steps.batch_shape, steps.event_shape, validate_args=False)

    @property
    def support(self) -> Any:
        return self.steps.support

    def expand(self, batch_shape: torch.Size | tuple[int, ...], _instance: SequenceLikelihood | None = None) -> SequenceLikelihood:
        new = self._get_checked_instance(SequenceLikelihood, _instance)
        batch_shape = torch.Size(batch_shape)
        new.steps = self.steps.expand(batch_shape)
        new.stop_logits = None if self.stop_logits is None else self.stop_logits.expand(batch_shape)
        super(SequenceLikelihood, new).__init__(batch_shape, self.event_shape, validate_args=False)
        return new

    @property
    def mean(self) -> Tensor:
        return self.steps.mean

    @property
    def mode(self) -> Tensor:
        return self.steps.mode

    @property
    def variance(self) -> Tensor:
        return self.steps.variance

    def log_prob(self, value: Tensor) -> Tensor:
        return self.steps.log_prob(value)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        return self.steps.sample(sample_shape)

    def stop_log_prob(self, lengths: Tensor, mask: Tensor) -> Tensor:
        """log p(the sequence ends exactly at step ``lengths - 1``) per example, ``(B,)``."""
        assert self.stop_logits is not None
        steps = torch.arange(self.stop_logits.shape[1], device=lengths.device)
        target = (steps[None, :] == (lengths[:, None] - 1)).to(self.stop_logits.dtype)
        per_step = -F.binary_cross_entropy_with_logits(self.stop_logits, target, reduction="none")
        return masked_sum(per_step, mask)

    def stopped_lengths(self) -> Tensor:
        """Length of each generated sequence: the first step whose stop probability exceeds 1/2 (else all)."""
        total = self.batch_shape[1]
        if self.stop_logits is None:
            return torch.full((self.batch_shape[0],), total, dtype=torch.long, device=self.steps.mean.device)
        stop = self.stop_logits > math.log(STOP_THRESHOLD / (1 - STOP_THRESHOLD))
        first = torch.where(stop.any(1), stop.float().argmax(1), torch.full_like(stop[:, 0], total - 1, dtype=torch.long))
        return first.long() + 1


_CELLS: dict[str, tuple[type[nn.RNNBase], type[nn.RNNCellBase]]] = {
    "lstm": (nn.LSTM, nn.LSTMCell),
    "gru": (nn.GRU, nn.GRUCell),
}


class RecurrentEncoder(nn.Module):
    """An RNN over the real steps of each sequence; returns the final hidden state of the top layer.

    Padded steps cannot reach the result: a unidirectional encoder reads its output at step
    ``length - 1`` (which no later step influences); a bidirectional one packs the batch, so the
    backward direction starts at each sequence's own last step.
    """

    def __init__(self, features: int, hidden: int, layers: int, cell: str, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        rnn_cls = _CELLS[cell][0]
        self.rnn = rnn_cls(
            features, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.bidirectional = bidirectional
        self.out_size = hidden * (2 if bidirectional else 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        if not self.bidirectional:
            out, _ = self.rnn(x)
            return out[torch.arange(len(x), device=x.device), lengths - 1]
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state
        return torch.cat([h[-2], h[-1]], dim=-1)  # top layer: forward and backward final states


@dataclass
class RecurrentConfig:
    """Settings shared by the recurrent VAEs."""

    kind: str = ""
    latent_dim: int = 2
    hidden: int = 64  # encoder hidden size
    layers: int = 1  # encoder layers
    cell: Literal["lstm", "gru"] = "lstm"
    bidirectional: bool = False  # encoder reads the sequence both ways
    dropout: float = 0.0  # between stacked encoder layers
    decoder_hidden: int | None = None  # default: hidden
    decoder_layers: int | None = None  # default: layers
    end_of_sequence: bool = True  # learn when a sequence ends (used to stop generation)
    max_length: int = 200  # steps generated when neither a length nor a stop is given
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
    min_posterior_std: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("latent_dim", "hidden", "layers", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("decoder_hidden", "decoder_layers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {value}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")

    @property
    def dec_hidden(self) -> int:
        return self.decoder_hidden or self.hidden

    @property
    def dec_layers(self) -> int:
        return self.decoder_layers or self.layers


def _lengths_and_mask(batch: Batch) -> tuple[Tensor, Tensor]:
    """The batch's lengths and mask; a batch without them is all real steps."""
    x = batch.values
    lengths = batch.lengths if batch.lengths is not None else torch.full((len(x),), x.shape[1], device=x.device)
    mask = batch.mask if batch.mask is not None else length_mask(lengths, x.shape[1])
    return lengths, mask


class RecurrentVAE(VAE):
    """Shared encoder, likelihood, stop head and generation of the recurrent VAEs."""

    sequence_input = True

    def __init__(self, config: RecurrentConfig, features: int) -> None:
        super().__init__(config, features)
        self.head = build_likelihood(config.likelihood, features)
        self.encoder = RecurrentEncoder(features, config.hidden, config.layers, config.cell, config.bidirectional, config.dropout)
        self.to_posterior = nn.Linear(self.encoder.out_size, 2 * config.latent_dim)
        self.stop = nn.Linear(config.dec_hidden, 1) if config.end_of_sequence else None

    # -- subclasses ------------------------------------------------------------------------------
    def _decode_params(
        self, z: Tensor, steps: int, targets: Tensor | None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Likelihood parameters ``(N, steps, P)`` and the decoder's top hidden states ``(N, steps, H)``;
        with ``lengths`` a model may skip the steps after each sequence's end (their outputs are unused)."""
        raise NotImplementedError

    def _targets(self, batch: Batch) -> Tensor | None:
        """The true sequence to feed back while training (teacher forcing), or None."""
        return None

    # -- protocol --------------------------------------------------------------------------------
    def _check(self, batch: Batch) -> tuple[Tensor, Tensor]:
        x = batch.values
        if x.dim() != 3 or x.shape[-1] != self.features:
            raise DataError(
                f"{self.kind} model expects sequences of shape (batch, time, {self.features}), got {tuple(x.shape)}"
            )
        lengths, mask = _lengths_and_mask(batch)
        if bool((lengths < 1).any()):
            raise DataError("every sequence needs at least one step")
        # padded steps may hold anything (NaN included): zero them so no value reaches a gradient
        return torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device)), lengths

    def encode(self, batch: Batch) -> Distribution:
        x, lengths = self._check(batch)
        mean, raw = self.to_posterior(self.encoder(x, lengths)).chunk(2, dim=-1)
        return diagonal_gaussian(mean, std_from_raw(raw, self.config.min_posterior_std))

    def decode(self, z: Tensor, batch: Batch | None = None, length: int | None = None) -> SequenceLikelihood:
        """p(x|z) over ``batch``'s time axis, or over ``length`` (default ``max_length``) steps."""
        lengths = None
        if batch is not None:
            steps, targets = batch.values.shape[1], (self._targets(batch) if self.training else None)
            lengths = _lengths_and_mask(batch)[0]
        else:
            steps, targets = int(length or self.config.max_length), None
        params, hidden = self._decode_params(z, steps, targets, lengths)
        stop_logits = self.stop(hidden).squeeze(-1) if self.stop is not None else None
        return SequenceLikelihood(self.head(params), stop_logits)

    def log_likelihood(self, likelihood: Distribution, batch: Batch) -> Tensor:
        """log p(x|z) over real steps, plus log p(length|z) when the model learns where sequences end."""
        assert isinstance(likelihood, SequenceLikelihood)
        # encode() has checked the batch; masked_log_prob never lets padded values (even NaN) through
        lengths, mask = _lengths_and_mask(batch)
        log_px = masked_log_prob(likelihood.steps, batch.values, mask)
        if likelihood.stop_logits is not None:
            log_px = log_px + likelihood.stop_log_prob(lengths, mask)
        return log_px

    def point(self, likelihood: Distribution) -> Tensor:
        steps = likelihood.steps if isinstance(likelihood, SequenceLikelihood) else likelihood
        return self.head.point(steps)

    @torch.no_grad()
    def generate(self, z: Tensor, length: int | None = None) -> tuple[Tensor, Tensor]:
        """Point values ``(N, T, F)`` (model units, zero after each end) and lengths ``(N,)``."""
        px = self.decode(z, length=length)
        values = self.point(px)
        if length is not None:
            lengths = torch.full((len(z),), int(length), dtype=torch.long, device=z.device)
        else:
            lengths = px.stopped_lengths()
        mask = length_mask(lengths, values.shape[1])
        return torch.where(mask[..., None], values, torch.zeros((), dtype=values.dtype, device=values.device)), lengths

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, mean: bool = True, length: int | None = None
    ) -> SequenceBatch:
        """``n`` sequences from the prior (decoder means), ended by the stop head or at ``length``."""
        return sample_sequences(self, n, generator, length)

    @torch.no_grad()
    def reconstruct(self, batch: Batch) -> Tensor:
        return self.point(self.decode(self.encode(batch).mean, batch))


# --------------------------------------------------------------------------- VRAE


@dataclass
class VRAEConfig(RecurrentConfig):
    """VRAE (source 000): z sets the decoder's initial state; the decoder is fed its own previous output.

    ``teacher_forcing`` is the probability, per sequence and step, that training feeds the true
    previous step instead of the model's own output (0 = free-running, as in the source). With
    ``teacher_forcing_schedule`` it decays over training (scheduled sampling, Bengio et al. 2015):
    ``linear`` reaches 0 at ``teacher_forcing_steps`` optimiser steps; ``inverse-sigmoid`` is
    p = p0 * k / (k + exp(step / k)) with k = ``teacher_forcing_steps``. Evaluation, sampling and
    reconstruction always run free.

    With full teacher forcing (``teacher_forcing: 1.0`` and a constant schedule, as long as it is 1) every
    decoder input is known before decoding starts, so training runs the decoder as one multi-layer
    ``nn.LSTM`` / ``nn.GRU`` call over the whole padded batch, with the cells' own weights
    (``fused_teacher_forcing``, on by default), instead of a Python loop over steps.
    """

    kind: str = "vrae"
    teacher_forcing: float = 0.0
    teacher_forcing_schedule: Literal["constant", "linear", "inverse-sigmoid"] = "constant"
    teacher_forcing_steps: int = 1000
    # when set, the schedule's length as a fraction of the run's optimiser steps (replaces teacher_forcing_steps)
    teacher_forcing_fraction: float | None = None
    # the decoder stops computing for sequences that have ended (the batch shrinks as they end); the
    # outputs on real steps are those of the full padded computation, padded steps are zeros
    skip_finished: bool = True
    fused_teacher_forcing: bool = True
    # word dropout (Bowman et al. 2016): while training, each decoder input (the previous step, true or the
    # model's own) is replaced by zeros with this probability, so the decoder must carry the sequence from z
    input_dropout: float = 0.0
    # false: a non-autoregressive decoder (no feedback, in training and generation alike): every step reads
    # the same learned input and the sequence comes from z (the initial state) alone, so z cannot be ignored
    autoregressive: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.input_dropout <= 1.0:
            raise ConfigError(f"model.input_dropout must be in [0, 1], got {self.input_dropout}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ConfigError(f"model.teacher_forcing must be in [0, 1], got {self.teacher_forcing}")
        if self.teacher_forcing_steps < 1:
            raise ConfigError(f"model.teacher_forcing_steps must be >= 1, got {self.teacher_forcing_steps}")
        if self.teacher_forcing_fraction is not None and not 0.0 < self.teacher_forcing_fraction <= 1.0:
            raise ConfigError(f"model.teacher_forcing_fraction must be in (0, 1], got {self.teacher_forcing_fraction}")


def teacher_forcing_probability(cfg: VRAEConfig, step: int, total_steps: float | None = None) -> float:
    """Probability of feeding the true previous step at optimiser ``step`` under the configured schedule;
    ``total_steps`` (the run's length) turns ``teacher_forcing_fraction`` into steps."""
    p0, k = cfg.teacher_forcing, float(cfg.teacher_forcing_steps)
    if cfg.teacher_forcing_fraction is not None and total_steps is not None and math.isfinite(total_steps) and total_steps > 0:
        k = max(1.0, cfg.teacher_forcing_fraction * total_steps)
    if cfg.teacher_forcing_schedule == "linear":
        return p0 * max(0.0, 1.0 - step / k)
    if cfg.teacher_forcing_schedule == "inverse-sigmoid":
        return p0 * k / (k + math.exp(min(step / k, 700.0)))
    return p0


@register_model
class VRAE(RecurrentVAE):
    """Variational recurrent autoencoder: RNN encoder -> z -> initial (h, c) -> free-running RNN decoder."""

    kind = "vrae"
    config_class = VRAEConfig

    def __init__(self, config: VRAEConfig, features: int) -> None:
        super().__init__(config, features)
        cell_cls = _CELLS[config.cell][1]
        hidden, layers = config.dec_hidden, config.dec_layers
        self.cells = nn.ModuleList(cell_cls(features if i == 0 else hidden, hidden) for i in range(layers))
        self.state_size = 2 if config.cell == "lstm" else 1
        self.to_state = nn.Linear(config.latent_dim, layers * hidden * self.state_size)
        self.out = nn.Linear(hidden, self.head.num_params)
        self.start = nn.Parameter(torch.zeros(features))  # the input before the first step
        self.teacher_forcing_now = config.teacher_forcing
        self.total_steps: float | None = None
        # a weightless template of the stacked cells as one cuDNN / oneDNN-style RNN, called with the cells'
        # parameters (torch.func.functional_call); kept in a tuple so it is no submodule and owns no state
        rnn_cls = _CELLS[config.cell][0]
        self._fused = (rnn_cls(features, hidden, num_layers=layers, batch_first=True, device="meta"),)

    def on_train_step(self, step: int) -> None:
        """Called by the trainer before each optimiser step: advance the scheduled-sampling schedule."""
        self.teacher_forcing_now = teacher_forcing_probability(self.config, step, self.total_steps)

    def set_total_steps(self, total: float | None) -> None:
        """The run's length in optimiser steps (for ``teacher_forcing_fraction``), set when training starts."""
        self.total_steps = total

    def _targets(self, batch: Batch) -> Tensor | None:
        return self._check(batch)[0] if self.teacher_forcing_now > 0 and self.config.autoregressive else None

    def initial_state(self, z: Tensor) -> list[tuple[Tensor, ...]]:
        """Per decoder layer: (tanh h0, c0) for an LSTM, (tanh h0,) for a GRU, all linear in z."""
        parts = self.to_state(z).chunk(len(self.cells) * self.state_size, dim=-1)
        states = []
        for i in range(len(self.cells)):
            h = torch.tanh(parts[i * self.state_size])
            states.append((h, parts[i * self.state_size + 1]) if self.state_size == 2 else (h,))
        return states

    def _fused_decode(self, z: Tensor, targets: Tensor | None, steps: int = 0) -> tuple[Tensor, Tensor]:
        """Teacher-forced decoding as one multi-layer RNN call (inputs: start, then the true steps); without
        ``targets`` (the non-autoregressive decoder) every one of ``steps`` inputs is the start vector."""
        n = len(z)
        if targets is None:
            inputs = self.start.expand(n, steps, -1)
        else:
            fed = targets[:, :-1]
            if self.training and self.config.input_dropout > 0:
                keep = torch.rand(fed.shape[:2], device=fed.device) >= self.config.input_dropout
                fed = fed * keep[..., None].to(fed.dtype)
            inputs = torch.cat([self.start.expand(n, 1, -1), fed], dim=1)
        states = self.initial_state(z)
        hx: Tensor | tuple[Tensor, Tensor] = torch.stack([st[0] for st in states])
        if self.state_size == 2:
            hx = (hx, torch.stack([st[1] for st in states]))
        weights = {
            f"{name}_l{i}": getattr(cell, name)
            for i, cell in enumerate(self.cells)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        # not packed: the outputs on real steps are the same (the recurrence is causal), and on CPU the padded
        # call is faster than PyTorch's packed one on length-bucketed batches (benchmarks/compile.py)
        hidden, _ = torch.func.functional_call(self._fused[0], weights, (inputs, hx))
        return self.out(hidden), hidden

    def _decode_params(
        self, z: Tensor, steps: int, targets: Tensor | None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if not self.config.autoregressive:
            return self._fused_decode(z, None, steps)
        if targets is not None and self.teacher_forcing_now >= 1.0 and self.config.fused_teacher_forcing:
            return self._fused_decode(z, targets)
        n = len(z)
        order = None
        active = [n] * steps
        if lengths is not None and self.config.skip_finished and n > 1:
            # longest first, so the sequences still running at step t are always the first rows
            order = torch.argsort(lengths, descending=True, stable=True)
            z = z[order]
            targets = targets[order] if targets is not None else None
            running = lengths[order][None, :] > torch.arange(steps, device=lengths.device)[:, None]
            active = running.sum(1).tolist()
        states = self.initial_state(z)
        prev = self.start.expand(n, -1)
        params_out, hidden_out = [], []
        lstm = self.state_size == 2
        for t in range(steps):
            m = active[t]
            if m < len(prev):  # sequences ended: drop their rows from the recurrence
                prev = prev[:m]
                states = [tuple(s[:m] for s in st) for st in states]
            inp = prev
            for i, cell in enumerate(self.cells):
                states[i] = cell(inp, states[i]) if lstm else (cell(inp, states[i][0]),)
                inp = states[i][0]
            params = self.out(inp)
            params_out.append(F.pad(params, (0, 0, 0, n - m)) if m < n else params)
            hidden_out.append(F.pad(inp, (0, 0, 0, n - m)) if m < n else inp)
            prev = self.head.point_from_params(params)
            if targets is not None:
                # drawn step by step for every sequence in the original order, so the draws for the real
                # steps depend neither on the padding nor on which rows are still running
                use_truth = torch.rand(n, 1, device=z.device) < self.teacher_forcing_now
                if order is not None:
                    use_truth = use_truth[order]
                prev = torch.where(use_truth[:m], targets[:m, t], prev)
            if self.training and self.config.input_dropout > 0:
                drop = torch.rand(n, 1, device=z.device) < self.config.input_dropout
                if order is not None:
                    drop = drop[order]
                prev = torch.where(drop[:m], torch.zeros((), dtype=prev.dtype, device=prev.device), prev)
        params_all, hidden_all = torch.stack(params_out, 1), torch.stack(hidden_out, 1)
        if order is not None:
            inverse = torch.empty_like(order)
            inverse[order] = torch.arange(n, device=order.device)
            params_all, hidden_all = params_all[inverse], hidden_all[inverse]
        return params_all, hidden_all


# --------------------------------------------------------------------------- stacked LSTM (source 001)


@dataclass
class StackedLSTMConfig(RecurrentConfig):
    """Sequence VAE of source 001: stacked RNN encoder; decoder RNN reading z at every step, then an RNN
    whose hidden size is the number of likelihood parameters (followed by a learned per-output scale and
    shift, so outputs are not confined to tanh's (-1, 1))."""

    kind: str = "stacked-lstm"
    hidden: int = 128
    layers: int = 2
    latent_dim: int = 16
    # source 001's last layer: an RNN whose hidden size is the number of likelihood parameters (a bottleneck
    # of tanh-bounded units that must carry the whole output); false: a linear map from the decoder RNN
    output_rnn: bool = True


@register_model
class StackedLSTMVAE(RecurrentVAE):
    """Stacked-LSTM sequence VAE: z repeated over time -> RNN(decoder_hidden) -> RNN(output size)."""

    kind = "stacked-lstm"
    config_class = StackedLSTMConfig

    def __init__(self, config: StackedLSTMConfig, features: int) -> None:
        super().__init__(config, features)
        rnn_cls = _CELLS[config.cell][0]
        self.decoder = rnn_cls(config.latent_dim, config.dec_hidden, num_layers=config.dec_layers, batch_first=True)
        self.to_output: nn.Module = (
            rnn_cls(config.dec_hidden, self.head.num_params, batch_first=True)
            if config.output_rnn
            else nn.Linear(config.dec_hidden, self.head.num_params)
        )
        self.out_scale = nn.Parameter(torch.ones(self.head.num_params))
        self.out_shift = nn.Parameter(torch.zeros(self.head.num_params))

    def _decode_params(
        self, z: Tensor, steps: int, targets: Tensor | None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        hidden, _ = self.decoder(z[:, None, :].expand(-1, steps, -1))
        out = self.to_output(hidden)
        out = out[0] if isinstance(out, tuple) else out
        return out * self.out_scale + self.out_shift, hidden
