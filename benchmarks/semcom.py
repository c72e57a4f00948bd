"""Semantic-communication benchmark: python benchmarks/semcom.py [--minutes 3] [--out results.json].

The classical, vanilla semantic and disentangled schemes on cifar10_test + 20 % noise/scrambled items:
mean |Z_i|, total bits per item, semantic impact, fidelity pass rate and language complexity, from real
bitstreams. See semready.experiments.semcom.
"""

from _common import parse_args, write_result

from semready.experiments.semcom import print_table, run_semcom_benchmark

if __name__ == "__main__":
    args = parse_args(__doc__, 3.0, "benchmarks/results/semcom.json", "teacher training budget")
    result = run_semcom_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed)
    print_table(result)
    write_result(result, args.out)
