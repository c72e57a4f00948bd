"""Mutation score per module from the last `mutmut run` (``make mutants``): python benchmarks/mutation_score.py.

Reads mutmut's ``mutants/**/*.py.meta`` files and prints one table — killed, survived, no tests, timeout, the
score killed / (all checked mutants) — per module and in all, writes the JSON to
``benchmarks/results/mutation.json`` (``--out``) and lists the survivors (``--survivors``) to inspect with
``mutmut show NAME``. A timeout counts as killed (the mutant made the tests hang: they did not pass); a mutant
no selected test reaches counts against the score.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 36: "timeout", -24: "timeout",
          24: "timeout", 152: "timeout", 255: "timeout", 37: "killed"}


def scores(root: Path) -> tuple[dict[str, dict[str, int]], list[str]]:
    table, survivors = {}, []
    for meta in sorted(root.rglob("*.py.meta")):
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(STATUS.get(code, "not checked" if code is None else "suspicious")
                         for code in codes.values())
        table[module] = dict(counts)
        survivors += [name for name, code in codes.items() if STATUS.get(code) in ("survived", "no tests")]
    return table, survivors


def score(counts: dict[str, int]) -> float | None:
    caught = counts.get("killed", 0) + counts.get("timeout", 0)
    checked = caught + counts.get("survived", 0) + counts.get("no tests", 0)
    return caught / checked if checked else None


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mutants", default="mutants")
    ap.add_argument("--out", default="benchmarks/results/mutation.json")
    ap.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    args = ap.parse_args()
    table, survivors = scores(Path(args.mutants))
    total = Counter()
    print("| module | mutants | killed | timeout | survived | no tests | score |\n|---|---|---|---|---|---|---|")
    for module, counts in table.items():
        total.update(counts)
        s = score(counts)
        print(f"| {module} | {sum(counts.values())} | {counts.get('killed', 0)} | {counts.get('timeout', 0)} | "
              f"{counts.get('survived', 0)} | {counts.get('no tests', 0)} | {'-' if s is None else f'{s:.1%}'} |")
    print(f"| all | {sum(total.values())} | {total['killed']} | {total['timeout']} | {total['survived']} | "
          f"{total['no tests']} | {score(total):.1%} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"modules": table, "all": dict(total), "score": score(total),
                                          "survivors": survivors}, indent=2) + "\n")
    if args.survivors:
        print("\n".join(survivors))
