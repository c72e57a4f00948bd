"""Clustering benchmark: python benchmarks/clustering.py [--minutes 9] [--out results.json].

Prints one table (k-means on raw pixels, untrained network + k-means, instance-only ablation, full method)
and writes the JSON. Same code as `semready bench`.
"""

from _common import parse_args, write_result

from semready.experiments.clustering import print_table, run_clustering_benchmark

if __name__ == "__main__":
    args = parse_args(__doc__, 9.0, "benchmarks/results/clustering.json", "training budget per method")
    result = run_clustering_benchmark(args.data_dir, minutes=args.minutes, seed=args.seed)
    print_table(result)
    write_result(result, args.out)
