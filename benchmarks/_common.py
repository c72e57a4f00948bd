"""What every benchmark script shares: its command line and writing the JSON it prints."""

import argparse
from pathlib import Path

from semready import io

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
