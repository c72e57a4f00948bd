"""What every benchmark script shares: its command line and writing the JSON it prints."""

import argparse
import sys
from pathlib import Path

from semready import io

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:  # `python benchmarks/X.py` puts only benchmarks/ on the path; X imports benchmarks.Y
    sys.path.insert(0, str(ROOT))


def parse_args(doc: str, default_minutes: float, default_out: str, minutes_help: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--data-dir", default=str(SHARED_DATA))
    ap.add_argument("--minutes", type=float, default=default_minutes, help=minutes_help)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=default_out)
    return ap.parse_args()


def write_result(result: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    io.write_json(out, result)
    print(f"wrote {out}")
