"""Detection benchmark: python benchmarks/detection.py [--minutes 3] [--out results.json].

Learnability against injected semantic-poor items (noise, scrambled, rare) at 10 % and 0.5 % of each family,
beside label-free peers computed in the same run. See semready.experiments.detection.
"""

from _common import parse_args, write_result

from semready.experiments.detection import print_table, run_detection_benchmark

if __name__ == "__main__":
    args = parse_args(__doc__, 3.0, "benchmarks/results/detection.json", "training budget per teacher")
    result = run_detection_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed)
    print_table(result)
    write_result(result, args.out)
