"""Build the embedded sample ``cifar10_sample.npz`` from the lossless CIFAR-10 subset.

Usage: ``python make_sample.py /path/to/cifar10_train_lossless4k.npz [OUT.npz]``
(OUT defaults to ``cifar10_sample.npz`` next to this script). See PROVENANCE.md.
"""

import sys
from pathlib import Path

import numpy as np

EXPECTED_FIRST_ROW_R = [59, 43, 50]  # data_batch_1[0], red plane, first three pixels
EXPECTED_LABELS = [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]  # data_batch_1 labels 0..9


def main(src: str, out: str | None = None) -> None:
    with np.load(src, allow_pickle=False) as z:
        x, y, classes, orig = z["x"], z["y"], z["classes"], z["orig_index"]
    assert x.dtype == np.uint8 and x.shape == (4000, 32, 32, 3), (x.dtype, x.shape)
    assert y.dtype == np.int64 and y.shape == (4000,) and 0 <= y.min() and y.max() <= 9
    assert list(orig) == list(range(4000)), "expected CIFAR-10 training images 0..3999 in order"
    assert x[0, 0, :3, 0].tolist() == EXPECTED_FIRST_ROW_R and y[:10].tolist() == EXPECTED_LABELS
    dest = Path(out) if out else Path(__file__).with_name("cifar10_sample.npz")
    np.savez_compressed(dest, x=x, y=y, classes=classes.astype(str), orig_index=orig)
    print(f"wrote {dest} ({dest.stat().st_size:,} bytes, {len(x)} images)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
