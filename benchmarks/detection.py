"""Detection benchmark: python benchmarks/detection.py [--minutes 3] [--out results.json].

Learnability against injected semantic-poor items (noise, scrambled, rare) at 10 % and 0.5 % of each family,
beside label-free peers computed in the same run. See semready.experiments.detection.
"""

import argparse
from pathlib import Path

from semready import io
from semready.experiments.detection import print_table, run_detection_benchmark

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget per teacher")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/detection.json")
    args = ap.parse_args()
    result = run_detection_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed)
    print_table(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    io.write_json(args.out, result)
    print(f"wrote {args.out}")
