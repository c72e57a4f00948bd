"""Speed benchmark: python benchmarks/speed.py [--preset quick|paper] [--device auto|cpu|cuda] [--out FILE.json].

Prints one table (minimal MoCo step, semready's full step, the view pipeline, negative selection, bare
inference, routing; images/s and peak memory) and the three ratios with their targets, and writes the JSON.
Same code as `semready bench --suite speed`. See semready/experiments/speed.py for what each phase holds.
"""

import argparse

from _common import write_result

from semready.experiments.speed import print_speed_table, run_speed_benchmark, speed_config

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", default="sample", help="data spec (default: the embedded CIFAR-10 sample)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (train.amp)")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--out", default="benchmarks/results/speed.json")
    args = ap.parse_args()
    flags = {"amp": args.amp, "channels_last": args.channels_last, "compile": args.compile}
    cfg = speed_config(args.preset, args.device, args.batch_size, {"train": flags})
    result = run_speed_benchmark(cfg, args.data, rounds=args.rounds)
    print_speed_table(result)
    write_result(result, args.out)
