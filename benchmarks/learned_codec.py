"""Learned codec sizes: python benchmarks/learned_codec.py [--size 16] [--configs 1500:12 6000:24 3000:48 ...].

Trains :func:`semready.comm.learned.fit_codec` on the embedded sample's first 500 items at ``--size`` and, on the
next 300 (held out), measures the quality ceiling of each (steps, latent channels) setting: the items' PSNR at the
ladder's finest step (what the language falls back to when no step meets the target), its mean and the share of
items at 28 and 30 dB or more, and the training time. This is how ``comm.learned_steps`` / ``comm.learned_latent``
were chosen (docs/kpis.md, "The learned language").
"""

import argparse
import time

import torch
from _common import write_result

from semready.comm.kpi import psnr_db
from semready.comm.learned import fit_codec, ladder
from semready.data import load_data


def ceiling(steps: int, latent: int, size: int, rate_weight: float = 0.01, width: int = 64) -> dict:
    x = load_data("sample", image_size=size).images[:800]
    fit, test = x[:500], x[500:]
    t0 = time.perf_counter()
    codec = fit_codec(fit, steps=steps, latent=latent, rate_weight=rate_weight, width=width)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        d = float(ladder()[-1])
        p = psnr_db(codec.synthesis(torch.round(codec.analysis(test) / d) * d).round().clamp(0, 255), test).numpy()
    return {"steps": steps, "latent": latent, "width": width, "rate_weight": rate_weight, "size": size,
            "train_seconds": round(seconds), "psnr_finest_mean": round(float(p.mean()), 2),
            "share_at_least_28": round(float((p >= 28).mean()), 3),
            "share_at_least_30": round(float((p >= 30).mean()), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--configs", nargs="+", default=["1500:12", "6000:12", "6000:24", "1500:48", "3000:48"],
                    help="steps:latent pairs")
    ap.add_argument("--out", default="benchmarks/results/learned_codec.json")
    args = ap.parse_args()
    rows = []
    for pair in args.configs:
        steps, latent = (int(v) for v in pair.split(":"))
        rows.append(ceiling(steps, latent, args.size))
        print(rows[-1], flush=True)
    write_result({"benchmark": "learned_codec", "torch_threads": torch.get_num_threads(), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
