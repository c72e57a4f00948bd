"""Speed benchmark: python benchmarks/speed.py [--preset quick|paper] [--device auto|cpu|cuda] [--out FILE.json].

Prints one table (the minimal MoCo step, semready's full step, the view pipeline, negative selection, bare
inference, routing; images/s and peak memory) and the three ratios with their targets, and writes the JSON.

Phases, each timed once per round in turn (so machine noise hits all of them alike; ratios are medians of
per-round ratios). Every step is the teacher's own (:meth:`semready.teacher.train.Trainer.step_on_views`, i.e.
:meth:`semready.teacher.model.Teacher.forward` + SGD), each phase on its own trainer with the same weights:
- ``minimal``: the step with clusters inactive — query forward+backward on view 1, EMA update, momentum forward
  on view 2, InfoNCE against the whole bank, SGD step, enqueue: MoCo's step and nothing else;
- ``full``: the same step with clusters active (cluster-aware negatives, eq. 3-4, anti-collapse) on the same views;
- ``views``: :meth:`Trainer.views`, the two perturbations of a batch (the step's input pipeline);
- ``negatives``: the per-cluster negative selection alone (bank organised per cluster + B×K mask);
- ``bare_inference``: uint8 -> device -> standardise -> momentum-encoder forward (what any inference pays);
- ``routing``: :meth:`semready.teacher.infer.TrainedRun.assign_batch` (the same + cluster assignment and eq. 3
  confidence);
- ``full_plain`` (only with ``train.amp`` or ``train.compile``): the full step of a trainer built with bf16
  autocast and torch.compile switched off, on the same views, so the fast path's gain is measured side by side
  (``full_over_plain_full_time_ratio``). With ``train.compile`` the minimal step is compiled too, so
  full/minimal compares like with like.
Peak memory, each phase run alone after the timed rounds: ``peak_mib`` is the process's (GPU:
``torch.cuda.max_memory_allocated``; CPU: RSS sampled every 1 ms), ``extra_mib`` what the phase allocates on
top of what was live before it (GPU: the same counter; CPU: the running sum of torch's allocation log, from
torch.profiler with profile_memory — exact for tensors, blind to non-torch memory).
"""


from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _common import write_result

from semready.config import SemreadyConfig, build_config
from semready.data import load_data
from semready.teacher.infer import TrainedRun
from semready.teacher.losses import cluster_aware_negative_mask
from semready.teacher.train import Trainer, epoch_generator
from semready.teacher.views import prepare_eval

TARGETS = {"full_over_minimal_time_ratio": ("<=", 1.15), "views_over_step_throughput_ratio": (">=", 3.0),
           "routing_over_bare_inference_throughput_ratio": (">=", 0.8)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096
    except OSError:  # not Linux: the peak so far (a coarser measure)
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _release_freed_memory() -> None:
    """Ask glibc to mmap blocks > 64 KiB (returned to the OS on free), so RSS tracks live tensors. Slower
    allocation: the memory pass runs after the timed rounds."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def peak_memory(fn: Callable[[], Any], device: torch.device, calls: int = 2, log: bool = True) -> dict[str, float]:
    """Peak memory while ``fn`` runs ``calls`` times: absolute, and above what was held before (MiB). On the CPU,
    ``log=False`` skips the profiler (for long calls): ``extra_mib`` is then the RSS growth."""
    mib = 2.0**20
    if device.type == "cuda":
        _sync(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(calls):
            fn()
        _sync(device)
        peak = torch.cuda.max_memory_allocated(device)
        return {"peak_mib": peak / mib, "extra_mib": (peak - before) / mib}
    before, peak, done = _rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    extra = _torch_cpu_extra(fn, calls) if log else None  # the same calls, under the profiler's allocation log
    if extra is None:
        for _ in range(calls):
            fn()
    done.set()
    thread.join()
    peak[0] = max(peak[0], _rss_bytes())
    return {"peak_mib": peak[0] / mib, "extra_mib": (extra if extra is not None else peak[0] - before) / mib}


def _torch_cpu_extra(fn: Callable[[], Any], calls: int) -> int | None:
    """Peak of live torch CPU allocations above the start, from the profiler's allocation log (None if this
    torch does not expose it)."""
    from torch.profiler import ProfilerActivity, profile

    # kineto otherwise prints start/stop lines and, without a GPU, "ERROR ... gpuGetDeviceCount failed" to
    # stderr at every profile: not errors, but they read like them in the benchmark's output
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            for _ in range(calls):
                fn()
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except (AttributeError, RuntimeError):
        return None
    try:
        live = peak = 0
        for e in sorted(events, key=lambda e: e.start_ns()):
            if str(e.device_type()).endswith("CPU"):
                live += e.nbytes()
                peak = max(peak, live)
        return peak
    except (AttributeError, RuntimeError):
        return None


def _trainer(cfg: SemreadyConfig, data, like: Trainer | None = None) -> Trainer:
    """A trainer in a scratch folder; with ``like``, holding the same teacher state (weights, bank, prototypes)."""
    trainer = Trainer(cfg, data, Path(tempfile.mkdtemp(prefix="semready-speed-")), progress=False)
    if like is not None:
        trainer.teacher.load_state_dict(like.teacher.state_dict())
        trainer.epoch = like.epoch
    return trainer


def speed_config(preset: str = "quick", device: str = "auto", batch_size: int | None = None,
                 overrides: dict | None = None) -> SemreadyConfig:
    over: dict[str, Any] = {"train": {"device": device, **({"batch_size": batch_size} if batch_size else {})}}
    for section, values in (overrides or {}).items():
        over.setdefault(section, {}).update(values)
    return build_config(preset, overrides=over)


def run_speed_benchmark(cfg: SemreadyConfig | None = None, data_spec: str = "sample", rounds: int = 20,
                        batches: int = 4, route_batch: int = 512, warmup_rounds: int = 2) -> dict[str, Any]:
    cfg = cfg or speed_config()
    data = load_data(data_spec, image_size=cfg.data.image_size)
    trainer = _trainer(cfg, data)
    dev, bs = trainer.device, trainer.batch_size
    batches = min(batches, len(data) // bs)
    trainer.prime_bank()
    trainer.seed_prototypes()
    trainer.epoch = cfg.train.warmup_epochs  # the schedule's clusters-active phase: the full step
    minimal = _trainer(cfg, data, trainer)  # the same weights and bank, its own optimiser
    plain_cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"amp": False, "compile": False})})
    plain = _trainer(plain_cfg, data, trainer) if cfg.train.amp or cfg.train.compile else None
    gen = epoch_generator(cfg.train.seed, 0)
    order = torch.randperm(len(data), generator=gen)
    images = [data.images[order[i * bs:(i + 1) * bs]] for i in range(batches)]
    views = [trainer.views(x, gen) for x in images]
    # every routing batch holds route_batch items (wrapping around a small dataset), so images/s counts real items
    route_batch = min(route_batch, len(data))
    route_images = [data.images[order[torch.arange(i * route_batch, (i + 1) * route_batch) % len(data)]]
                    for i in range(batches)]
    run = TrainedRun(trainer.run_dir, cfg, trainer.teacher, dev, tuple(data.images.shape[1:]))

    tm = trainer.teacher
    with torch.no_grad():  # the queries' clusters, as the step has them already
        key_clusters = [tm.cluster_head(tm.momentum_encoder(v[1])).argmax(dim=1) for v in views]

    def negatives(i: int) -> None:
        with torch.no_grad():
            bank_labels = tm.cluster_head(tm.bank.valid_keys()).argmax(dim=1)
            cluster_aware_negative_mask(key_clusters[i], bank_labels, cfg.bank.min_negatives, tm.clusters)

    def bare(i: int) -> None:
        trainer.teacher.eval()
        trainer.teacher.embed(prepare_eval(trainer.to_device(route_images[i])))

    phases: dict[str, Callable[[int], Any]] = {
        "minimal": lambda i: minimal.step_on_views(*views[i], clusters_active=False),
        "full": lambda i: trainer.step_on_views(*views[i], clusters_active=True),
        "views": lambda i: trainer.views(images[i], gen),
        "negatives": negatives,
        "bare_inference": bare,
        "routing": lambda i: run.assign_batch(route_images[i]),
    }
    if plain is not None:
        phases["full_plain"] = lambda i: plain.step_on_views(*views[i], clusters_active=True)
    times: dict[str, list[float]] = {name: [] for name in phases}
    names = list(phases)
    for r in range(warmup_rounds + rounds):
        i = r % batches
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate the order each round
            _sync(dev)
            t0 = time.perf_counter()
            phases[name](i)
            _sync(dev)
            if r >= warmup_rounds:
                times[name].append(time.perf_counter() - t0)
    _release_freed_memory()  # after the timing: mmap-per-block allocation is slower
    memory = {name: peak_memory(lambda fn=fn: fn(0), dev) for name, fn in phases.items()}
    return _summarise(cfg, trainer, times, memory, bs, route_batch, rounds, data_spec)


def _summarise(cfg, trainer, times, memory, bs, route_batch, rounds, data_spec) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in times.items()}
    per_round = lambda a, b: statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))  # noqa: E731
    neg_s = med["negatives"]
    per_item = {"minimal": bs, "full": bs, "views": bs, "bare_inference": route_batch, "routing": route_batch,
                "full_plain": bs}
    phases = {k: {"seconds_per_batch": med[k], "images_per_s": n / med[k], "batch": n, **memory[k]}
              for k, n in per_item.items() if k in med}
    result = {
        "benchmark": "speed", "data": data_spec, "preset": cfg.preset, "encoder": cfg.model.encoder,
        "device": str(trainer.device), "amp": cfg.train.amp, "channels_last": cfg.train.channels_last,
        "compile": cfg.train.compile, "batch_size": bs, "bank_size": cfg.bank.size, "clusters": cfg.model.clusters,
        "image_shape": list(trainer.data.images.shape[1:]), "rounds": rounds, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.platform(), "phases": phases,
        "negative_selection_seconds_per_batch": neg_s,
        "negative_selection_share_of_full_step": neg_s / med["full"],
        "full_over_minimal_time_ratio": per_round("full", "minimal"),
        "views_over_step_throughput_ratio": per_round("full", "views"),
        "routing_over_bare_inference_throughput_ratio": per_round("bare_inference", "routing"),
    }
    if "full_plain" in med:
        result["full_over_plain_full_time_ratio"] = per_round("full", "full_plain")
    result["targets_met"] = {k: (result[k] <= v if op == "<=" else result[k] >= v) for k, (op, v) in TARGETS.items()}
    return result


def print_speed_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"semready speed: {result['preset']} preset ({result['encoder']}), batch "
                        f"{result['batch_size']}, K {result['bank_size']}, M {result['clusters']}, "
                        f"{result['device']}, {result['threads']} threads, amp {result['amp']}")
    for col in ("phase", "images/s", "ms/batch", "batch", "peak MiB", "extra MiB"):
        table.add_column(col, justify="right" if col != "phase" else "left")
    for name, p in result["phases"].items():
        table.add_row(name, f"{p['images_per_s']:,.0f}", f"{1000 * p['seconds_per_batch']:.1f}", str(p["batch"]),
                      f"{p['peak_mib']:,.0f}", f"{p['extra_mib']:,.0f}")
    console = Console()
    console.print(table)
    console.print(f"per-cluster negative selection: {1000 * result['negative_selection_seconds_per_batch']:.2f} "
                  f"ms/batch ({100 * result['negative_selection_share_of_full_step']:.1f} % of the full step)")
    for key, (op, target) in TARGETS.items():
        ok = "met" if result["targets_met"][key] else "NOT met"
        console.print(f"{key}: {result[key]:.3f} (target {op} {target}: {ok})")
    if "full_over_plain_full_time_ratio" in result:
        console.print(f"full_over_plain_full_time_ratio: {result['full_over_plain_full_time_ratio']:.3f} (the full "
                      "step with amp/compile over the same step without them; < 1 = the fast path pays)")


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
