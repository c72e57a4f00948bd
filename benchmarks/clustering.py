"""Clustering benchmark: python benchmarks/clustering.py [--minutes 8] [--out results.json].

Prints one table (k-means on raw pixels, untrained network + k-means, instance-only ablation, full method)
and writes the JSON. Same code as `semready bench`.
"""

import argparse
from pathlib import Path

from semready import io
from semready.experiments.clustering import print_table, run_clustering_benchmark

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--minutes", type=float, default=9.0, help="training budget per method")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/clustering.json")
    args = ap.parse_args()
    result = run_clustering_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed)
    print_table(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    io.write_json(args.out, result)
    print(f"wrote {args.out}")
