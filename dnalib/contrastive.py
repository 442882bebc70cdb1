"""Contrastive training of a k-mer encoder: weighted SimCLR, then MI-Mix (DNABERT-S).

Read top to bottom:

1. :func:`weighted_simclr_loss` and :func:`mimix_loss`, the two losses of the
   curriculum (C2LR), computed in log space.
2. :class:`ProjectionHead`, the small MLP between the pooled encoder output and
   the losses (used for training only; embeddings are the pooled encoder
   output).
3. :func:`encode`, the encoder pass run layer by layer so that hidden states
   can be mixed at any layer (MI-Mix), and :func:`draw_mix`, which draws the
   layer, the partners and the mixing weights of one step.

Formulas (tau is the temperature, 0.05 in DNABERT-S; <a, b> is a dot product of
L2-normalised projections, so a cosine similarity):

Weighted SimCLR. A batch of N positive pairs gives 2N features
f = cat(z1, z2). For anchor i with partner i+ in the other view,
s_ij = <f_i, f_j> / tau, pos_i = exp(s_ii+), and the negatives are the other
2N - 2 samples, n_ij = exp(s_ij). Hard negatives weigh more:
w_ij = n_ij / mean_j(n_ij), Ng_i = sum_j w_ij n_ij, and::

    loss = -mean_i log(pos_i / (pos_i + Ng_i))   (mean over all 2N anchors).

Since Ng_i = sum_j n_ij^2 / mean_j n_ij, in log space
log Ng_i = logsumexp_j(2 s_ij) - (logsumexp_j(s_ij) - log(2N - 2)), and
loss_i = softplus(log Ng_i - s_ii+) = log(1 + Ng_i / pos_i), accurate also
for tiny losses. The weights are not detached (as in the DNABERT-S / SCCL
code), so gradients also flow through them.

MI-Mix. Only view 1 is mixed: at a layer l drawn uniformly from
{0 (embedding output), ..., L-1}, h_i <- lam_i h_i + (1 - lam_i) h_r(i) for a
random permutation r, with lam_i ~ Beta(alpha, alpha), lam_i <- max(lam_i,
1 - lam_i); the attention mask becomes mask_i * mask_r(i), and the forward
pass continues from layer l. The N mixed features z1m are compared with the N
view-2 features z2 only: s_ij = <z1m_i, z2_j> / tau, Ng_i is the weighted sum
over j != i (as above, mean over the N - 1 negatives), and::

    loss = -mean_i [lam_i log(pos_i / (pos_i + Ng_i))
                    + (1 - lam_i) log(pos_r(i) / (pos_i + Ng_i))],

with pos_i = exp(s_ii) and pos_r(i) = exp(s_i,r(i)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dnalib.errors import DnalibError
from dnalib.models import base_model, masked_mean

#: Temperature of both losses (DNABERT-S).
TEMPERATURE = 0.05


# --------------------------------------------------------------------------- losses


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> int:
    if a.dim() != 2 or a.shape != b.shape:
        raise DnalibError(
            f"{names[0]} and {names[1]} must be 2-D (batch, dim) of the same shape; got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    n = a.shape[0]
    if n < 2:
        raise DnalibError(f"a contrastive loss needs a batch of at least 2 pairs; got {n}")
    return n


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise DnalibError(f"temperature must be positive; got {temperature}")


def _similarities(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """``a @ b.T / temperature`` in at least float32, also under bf16 autocast."""
    a = a if a.dtype in (torch.float32, torch.float64) else a.float()
    b = b if b.dtype in (torch.float32, torch.float64) else b.float()
    with torch.autocast(a.device.type, enabled=False):
        return a @ b.T / temperature


def _log_weighted_negatives(s: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """log Ng per row: logsumexp(2 s) - (logsumexp(s) - log(count)) over the negatives."""
    masked = s.masked_fill(~negative, float("-inf"))
    count = negative.sum(1).to(s.dtype)
    return torch.logsumexp(2 * masked, dim=1) - (torch.logsumexp(masked, dim=1) - count.log())


def weighted_simclr_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = TEMPERATURE
                         ) -> torch.Tensor:
    """Weighted SimCLR loss of DNABERT-S (hard negatives weigh more).

    Parameters
    ----------
    z1, z2 : torch.Tensor
        ``(N, d)`` L2-normalised projections of the first and second views;
        row *i* of both is a positive pair. N must be at least 2.
    temperature : float
        Softmax temperature tau.

    Returns
    -------
    torch.Tensor
        Scalar loss, the mean over all 2N anchors (see the module docstring).
    """
    n = _check_pair(z1, z2, ("z1", "z2"))
    _check_temperature(temperature)
    f = torch.cat([z1, z2])
    s = _similarities(f, f, temperature)
    idx = torch.arange(2 * n, device=f.device)
    partner = (idx + n) % (2 * n)
    s_pos = s[idx, partner]
    negative = torch.ones(2 * n, 2 * n, dtype=torch.bool, device=f.device)
    negative[idx, idx] = False
    negative[idx, partner] = False
    log_ng = _log_weighted_negatives(s, negative)
    # -log(pos / (pos + Ng)) = log(1 + Ng / pos): softplus keeps small losses accurate.
    return F.softplus(log_ng - s_pos).mean()


def mimix_loss(z1_mixed: torch.Tensor, z2: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor,
               temperature: float = TEMPERATURE) -> torch.Tensor:
    """MI-Mix loss: mixed first views against the second views.

    Parameters
    ----------
    z1_mixed : torch.Tensor
        ``(N, d)`` L2-normalised projections of the mixed first views
        (sample *i* mixed with sample ``perm[i]``).
    z2 : torch.Tensor
        ``(N, d)`` L2-normalised projections of the (unmixed) second views.
    perm : torch.Tensor
        ``(N,)`` the mixing permutation r.
    lam : torch.Tensor
        ``(N,)`` mixing weights lambda_i (weight of sample *i* itself).
    temperature : float
        Softmax temperature tau.

    Returns
    -------
    torch.Tensor
        Scalar loss, the mean over the N mixed anchors (see the module docstring).
    """
    n = _check_pair(z1_mixed, z2, ("z1_mixed", "z2"))
    _check_temperature(temperature)
    if perm.shape != (n,) or lam.shape != (n,):
        raise DnalibError(
            f"perm and lam must have shape ({n},) like the batch; got {tuple(perm.shape)} and "
            f"{tuple(lam.shape)}"
        )
    s = _similarities(z1_mixed, z2, temperature)
    idx = torch.arange(n, device=s.device)
    perm = perm.to(s.device).long()
    lam = lam.to(s.device, s.dtype)
    s_pos = s[idx, idx]
    s_partner = s[idx, perm]
    negative = ~torch.eye(n, dtype=torch.bool, device=s.device)
    # log(pos / (pos + Ng)) = -softplus(log Ng - s_pos) and
    # log(pos_r / (pos + Ng)) = (s_partner - s_pos) - softplus(log Ng - s_pos).
    excess = F.softplus(_log_weighted_negatives(s, negative) - s_pos)
    return (excess - (1 - lam) * (s_partner - s_pos)).mean()


# --------------------------------------------------------------------------- projection head


class ProjectionHead(nn.Module):
    """Projection head of DNABERT-S: Linear(d, d) -> ReLU -> Linear(d, out), L2-normalised.

    Both linear maps have no bias. The head is used for training only.

    Parameters
    ----------
    d : int
        Input size (the encoder's hidden size).
    out : int
        Output size (128 in DNABERT-S).
    """

    def __init__(self, d: int, out: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, d, bias=False), nn.ReLU(), nn.Linear(d, out, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised projections ``(N, out)`` of pooled encodings ``(N, d)``."""
        return F.normalize(self.net(x), dim=-1)


# --------------------------------------------------------------------------- encoder pass with MI-Mix


def _prepare_mask(encoder: Any, mask: torch.Tensor | None, hidden: torch.Tensor) -> Any:
    """The attention mask in the format the encoder's layers expect (None: attend everywhere)."""
    if mask is None or bool(mask.all()):
        return None  # SDPA fast path, as in the stock forward without padding
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden, attention_mask=mask)


def encode(
    model_or_encoder: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    mix_layer: int | None = None,
    perm: torch.Tensor | None = None,
    lam: torch.Tensor | None = None,
    content: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pooled encoder output, optionally with MI-Mix at one layer.

    Runs the encoder layer by layer: embeddings, then for each layer l, if
    ``l == mix_layer`` the hidden states become ``lam * h + (1 - lam) * h[perm]``
    (one lambda per sample) and the attention mask ``mask * mask[perm]``; then
    layer l. Without mixing the result equals masked-mean pooling of the stock
    forward's ``last_hidden_state``. Works for ``RobertaModel`` (absolute
    positions) and ``EsmModel`` (rotary positions; its final layer norm is
    applied).

    Parameters
    ----------
    model_or_encoder
        A ``RobertaModel`` / ``EsmModel`` or a model with a head around one
        (see :func:`dnalib.models.base_model`).
    input_ids, attention_mask : torch.Tensor
        ``(N, T)`` token ids and 1/0 attention mask.
    mix_layer : int, optional
        Mix the input of this layer, in ``0 ... L-1`` (0: the embedding
        output). None: no mixing.
    perm : torch.Tensor, optional
        ``(N,)`` partner of each sample (required with *mix_layer*).
    lam : torch.Tensor, optional
        ``(N,)`` weight of each sample itself (required with *mix_layer*).
    content : torch.Tensor, optional
        ``(N, T)`` pooling mask (1 for tokens to average). Pass
        :func:`dnalib.models.content_mask` to exclude [CLS] and [SEP] as in
        DNABERT-S; default: *attention_mask*. When mixing it becomes
        ``content * content[perm]``.

    Returns
    -------
    torch.Tensor
        ``(N, hidden_size)`` pooled encodings.
    """
    encoder = base_model(model_or_encoder)
    if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
        raise DnalibError(
            f"input_ids and attention_mask must be (batch, tokens) of the same shape; got "
            f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}"
        )
    layers = encoder.encoder.layer
    n = input_ids.shape[0]
    if mix_layer is not None:
        if not 0 <= mix_layer < len(layers):
            raise DnalibError(f"mix_layer must be in 0..{len(layers) - 1}; got {mix_layer}")
        if perm is None or lam is None or perm.shape != (n,) or lam.shape != (n,):
            raise DnalibError(f"mixing needs perm and lam of shape ({n},), one entry per sample")
    if content is None:
        content = attention_mask
    elif content.shape != input_ids.shape:
        raise DnalibError(
            f"content must have the shape of input_ids {tuple(input_ids.shape)}; got {tuple(content.shape)}"
        )

    is_esm = getattr(encoder.config, "model_type", "") == "esm"
    if is_esm:
        hidden = encoder.embeddings(input_ids=input_ids, attention_mask=attention_mask)
        position_embeddings = None
        if encoder.rotary_embeddings is not None:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            position_embeddings = encoder.rotary_embeddings(hidden, positions)
    else:
        hidden = encoder.embeddings(input_ids=input_ids)

    mask = attention_mask
    prepared = _prepare_mask(encoder, mask, hidden)
    for i, layer in enumerate(layers):
        if i == mix_layer:
            perm = perm.to(hidden.device).long()
            w = lam.to(hidden.device, hidden.dtype).view(-1, 1, 1)
            hidden = w * hidden + (1 - w) * hidden[perm]
            mask = mask * mask[perm]
            content = content * content[perm]
            prepared = _prepare_mask(encoder, mask, hidden)
        if is_esm:
            hidden = layer(hidden, attention_mask=prepared, position_embeddings=position_embeddings)
        else:
            hidden = layer(hidden, prepared)
    if is_esm and encoder.encoder.emb_layer_norm_after is not None:
        hidden = encoder.encoder.emb_layer_norm_after(hidden)
    return masked_mean(hidden, content)


def draw_mix(
    n: int,
    n_layers: int,
    rng_or_generator: np.random.Generator | torch.Generator,
    alpha: float = 1.0,
    input_only: bool = False,
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Draw the MI-Mix layer, partners and weights of one training step.

    Parameters
    ----------
    n : int
        Batch size.
    n_layers : int
        Number of encoder layers L; the layer is uniform on ``0 ... L-1``.
    rng_or_generator : numpy.random.Generator or torch.Generator
        Source of randomness (a torch generator seeds a NumPy one from itself).
    alpha : float
        lambda ~ Beta(alpha, alpha) per sample, then lambda <- max(lambda, 1 - lambda).
    input_only : bool
        Always mix at layer 0, the embedding output (the i-Mix ablation).

    Returns
    -------
    layer : int
        Mixing layer for :func:`encode`.
    perm : torch.Tensor
        ``(n,)`` int64 random permutation (may have fixed points).
    lam : torch.Tensor
        ``(n,)`` float32 weights in [0.5, 1].
    """
    if n < 1 or n_layers < 1:
        raise DnalibError(f"draw_mix needs n >= 1 and n_layers >= 1; got n={n}, n_layers={n_layers}")
    if not alpha > 0:
        raise DnalibError(f"alpha must be positive; got {alpha}")
    if isinstance(rng_or_generator, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=rng_or_generator))
        rng = np.random.default_rng(seed)
    else:
        rng = rng_or_generator
    layer = 0 if input_only else int(rng.integers(n_layers))
    perm = torch.from_numpy(rng.permutation(n).astype(np.int64))
    lam = rng.beta(alpha, alpha, size=n)
    lam = torch.from_numpy(np.maximum(lam, 1.0 - lam).astype(np.float32))
    return layer, perm, lam



__all__ = [
    "TEMPERATURE",
    "ProjectionHead",
    "draw_mix",
    "encode",
    "mimix_loss",
    "weighted_simclr_loss",
]
