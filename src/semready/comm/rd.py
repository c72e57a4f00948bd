"""Rate–distortion helpers (docs/rd.md): Bjøntegaard deltas between two RD curves, and per-item structural
similarity.

**BD-rate** (G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves", VCEG-M33, 2001): fit
ln(rate) as a function of PSNR for each curve, integrate both over the PSNR interval the curves share, and turn
the mean difference into a rate ratio: BD-rate = exp(mean(ln r_b − ln r_a)) − 1, in percent. Negative: curve b
needs fewer bits than curve a at equal quality. ``method="cubic"`` is VCEG-M33's least-squares cubic polynomial
(4 points or more per curve; fewer is refused in one line); ``method="pchip"`` is the piecewise cubic Hermite
interpolation of the JCT-VC / JVET common test conditions (2 points or more; scipy's ``PchipInterpolator``, whose
end slopes may differ from the CTC spreadsheet's in the last digits). **BD-PSNR** is the same with the axes
swapped: PSNR as a function of ln(rate), mean difference in dB over the shared ln-rate interval.

**Structural similarity** (:func:`structural_similarity`): MS-SSIM (Wang et al. 2003; ``pytorch-msssim``, 5 scales,
11-tap Gaussian window, σ 1.5) needs items whose smaller side exceeds 160 pixels; semready's items are 8–32 pixels,
so for them it is single-scale SSIM (Wang et al. 2004) with the Gaussian window (σ 1.5) shrunk to the largest odd
size up to 11 that fits the item (7 taps for 8×8 items, 11 for 16×16 and up). The name of the measure used comes
back with the values.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from semready.errors import SemreadyError

METHODS = ("cubic", "pchip")
MS_SSIM_MIN_SIDE = 161  # pytorch-msssim's 5 scales with an 11-tap window need a side > (11 − 1)·2^4
SSIM_SIGMA = 1.5


def _curve(name: str, rate, dist, method: str) -> tuple[np.ndarray, np.ndarray]:
    """One curve as (ln rate, PSNR) float arrays, checked (the caller sorts by its abscissa)."""
    if method not in METHODS:
        raise SemreadyError(f"unknown BD interpolation {method!r}: choose one of {', '.join(METHODS)}")
    r, d = np.asarray(rate, dtype=np.float64).ravel(), np.asarray(dist, dtype=np.float64).ravel()
    if r.shape != d.shape:
        raise SemreadyError(f"curve {name} has {len(r)} rates but {len(d)} PSNRs: pass one PSNR per rate")
    need = 4 if method == "cubic" else 2
    if len(r) < need:
        raise SemreadyError(f"curve {name} has {len(r)} points; BD by {method} fit needs at least {need}: sweep more "
                            "targets" + (" or pass method='pchip' (2 or more)" if method == "cubic" else ""))
    if not (np.isfinite(r).all() and np.isfinite(d).all() and (r > 0).all()):
        raise SemreadyError(f"curve {name} holds a non-finite PSNR or a rate <= 0: drop lossless points (PSNR inf) "
                            "and empty ones")
    return np.log(r), d


def _sorted(name: str, x: np.ndarray, y: np.ndarray, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) sorted by the abscissa x, which must not repeat (a fit through two y at one x is no curve)."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(np.unique(x)) < len(x):
        raise SemreadyError(f"curve {name} repeats a {axis} value ({x[np.flatnonzero(np.diff(x) == 0)[0]]:.6g}): "
                            f"pass points of distinct {axis}")
    return x, y


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """The mean of the curve y(x) (cubic fit or PCHIP through the points) over [lo, hi]."""
    if method == "cubic":
        poly = np.polyint(np.polyfit(x, y, 3))
        return float((np.polyval(poly, hi) - np.polyval(poly, lo)) / (hi - lo))
    from scipy.interpolate import PchipInterpolator

    return float(PchipInterpolator(x, y).integrate(lo, hi) / (hi - lo))


def _overlap(what: str, xa: np.ndarray, xb: np.ndarray, unit: str) -> tuple[float, float]:
    lo, hi = max(xa.min(), xb.min()), min(xa.max(), xb.max())
    if not hi > lo:
        raise SemreadyError(f"the two RD curves do not overlap in {what} (a: {xa.min():.4g}–{xa.max():.4g}{unit}, b: "
                            f"{xb.min():.4g}–{xb.max():.4g}{unit}): sweep targets both curves reach")
    return float(lo), float(hi)


def bd_rate(rate_a, dist_a, rate_b, dist_b, method: str = "cubic") -> float:
    """The Bjøntegaard delta rate of curve b against curve a, in percent (negative: b needs fewer bits).

    Args:
        rate_a: curve a's rates (any positive unit, e.g. bits per item), (n_a,).
        dist_a: curve a's PSNR (dB) at those rates, (n_a,), distinct.
        rate_b: curve b's rates, (n_b,).
        dist_b: curve b's PSNR (dB), (n_b,).
        method: ``cubic`` (VCEG-M33, n ≥ 4) or ``pchip`` (n ≥ 2).

    Returns:
        100·(exp(mean over the shared PSNR interval of ln r_b − ln r_a) − 1).

    >>> a = [100, 200, 400, 800]; psnr = [30, 33, 36, 39]
    >>> round(bd_rate(a, psnr, [0.8 * r for r in a], psnr), 9)  # b needs 80 % of a's bits everywhere
    -20.0
    """
    da, la = _sorted("a", *_curve("a", rate_a, dist_a, method)[::-1], "PSNR")
    db, lb = _sorted("b", *_curve("b", rate_b, dist_b, method)[::-1], "PSNR")
    lo, hi = _overlap("PSNR", da, db, " dB")
    diff = _mean_over(db, lb, lo, hi, method) - _mean_over(da, la, lo, hi, method)
    return 100.0 * math.expm1(diff)


def bd_psnr(rate_a, dist_a, rate_b, dist_b, method: str = "cubic") -> float:
    """The Bjøntegaard delta PSNR of curve b against curve a, in dB (positive: b is better at equal rate).

    Args:
        rate_a, dist_a, rate_b, dist_b, method: as in :func:`bd_rate`; here rates must be distinct per curve.

    Returns:
        The mean of PSNR_b − PSNR_a over the shared ln-rate interval.

    >>> round(bd_psnr([100, 200, 400, 800], [30, 33, 36, 39], [100, 200, 400, 800], [30.5, 33.5, 36.5, 39.5]), 9)
    0.5
    """
    la, da = _sorted("a", *_curve("a", rate_a, dist_a, method), "rate")
    lb, db = _sorted("b", *_curve("b", rate_b, dist_b, method), "rate")
    lo, hi = _overlap("ln rate", la, lb, "")
    return _mean_over(lb, db, lo, hi, method) - _mean_over(la, da, lo, hi, method)


def ssim_window(height: int, width: int) -> int:
    """The Gaussian window (taps) of single-scale SSIM for H×W items: the largest odd size ≤ min(11, H, W).

    >>> ssim_window(8, 8), ssim_window(16, 16), ssim_window(32, 32), ssim_window(5, 9)
    (7, 11, 11, 5)
    """
    side = min(11, height, width)
    return max(side - (1 - side % 2), 1)


def structural_similarity(originals: torch.Tensor, received: torch.Tensor) -> tuple[np.ndarray, str]:
    """Per-item MS-SSIM where the items are large enough for its 5 scales, single-scale SSIM otherwise.

    Args:
        originals: uint8 N×C×H×W, what was sent.
        received: uint8 N×C×H×W, what arrived, in the same order.

    Returns:
        (float64 (N,), the mean over channels per item; the measure's name, e.g. ``ssim (gaussian 7, sigma 1.5)``).

    >>> x = torch.arange(192, dtype=torch.uint8).reshape(1, 3, 8, 8)
    >>> values, name = structural_similarity(x, x)
    >>> values.tolist(), name
    ([1.0], 'ssim (gaussian 7, sigma 1.5)')
    """
    from pytorch_msssim import ms_ssim, ssim

    if tuple(originals.shape) != tuple(received.shape) or originals.dim() != 4:
        raise SemreadyError(f"received items {tuple(received.shape)} do not match the originals "
                            f"{tuple(originals.shape)}: pass N×C×H×W batches of the same shape")
    if len(originals) == 0:
        return np.zeros(0), "none (no items)"
    x, y = originals.double(), received.double()
    h, w = x.shape[-2:]
    if min(h, w) >= MS_SSIM_MIN_SIDE:
        return ms_ssim(x, y, data_range=255, size_average=False).numpy(), "ms-ssim (5 scales, gaussian 11, sigma 1.5)"
    win = ssim_window(h, w)
    values = ssim(x, y, data_range=255, size_average=False, win_size=win, win_sigma=SSIM_SIGMA)
    return values.numpy(), f"ssim (gaussian {win}, sigma {SSIM_SIGMA})"


__all__ = ["METHODS", "bd_psnr", "bd_rate", "ssim_window", "structural_similarity"]
