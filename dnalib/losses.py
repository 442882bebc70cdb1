"""The two contrastive losses of DNABERT-S: weighted SimCLR and MI-Mix, in log space.

Both trainers use them: :func:`dnalib.contrastive.finetune` (a transformer
encoder) and :func:`dnalib.spectrum_map.train_spectrum_map` (a linear map of
the k-mer spectrum). The positive pairs they score come from
:mod:`dnalib.pairs`.

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

import torch
import torch.nn.functional as F

from dnalib.errors import DnalibError

__all__ = ["TEMPERATURE", "mimix_loss", "weighted_simclr_loss"]

#: Temperature of both losses (DNABERT-S).
TEMPERATURE = 0.05



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
