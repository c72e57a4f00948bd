"""Fuzzing every loader with hypothesis: random bytes as .npz files, image files, ``bytes:`` streams, checkpoints
and configs, random array shapes, dtypes and values, random spec strings. Whatever comes in, nothing escapes but
a one-line SemreadyError; whatever loads is a valid uint8 N×3×H×W tensor."""

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from safetensors.torch import save_file

from semready.config import build_config
from semready.data import iter_batches, load_data, parse_spec
from semready.errors import SemreadyError
from semready.teacher.checkpoint import load_checkpoint, read_tensors
from semready.teacher.model import Teacher

# SEMREADY_FUZZ_EXAMPLES=5000 for a longer hunt; the default keeps the whole file under ~20 s.
FUZZ = settings(max_examples=int(os.environ.get("SEMREADY_FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def only_semready_errors(load):
    """Run ``load()``: it returns valid images or raises a one-line SemreadyError, nothing else."""
    try:
        d = load()
    except SemreadyError as e:
        assert "\n" not in str(e) and str(e), repr(e)
        return None
    assert d.images.dtype == torch.uint8 and d.images.ndim == 4 and d.images.shape[1] == 3
    assert d.images.is_contiguous() and min(d.images.shape[2:]) >= 8
    return d


def mutated(good: bytes):
    """A valid file, truncated at a random point, with a few random bytes overwritten."""
    def apply(draw):
        cut, flips = draw
        data = bytearray(good[:cut])
        for pos, val in flips:
            if data:
                data[pos % len(data)] = val
        return bytes(data)
    return st.tuples(st.integers(0, len(good)),
                     st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4)).map(apply)


def _encoded(fmt: str, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(np.arange(12 * 12 * 3, dtype=np.uint8).reshape(12, 12, 3) % 251).convert(mode)
    img.save(buf, format=fmt)
    return buf.getvalue()


_GOOD_NPZ = io.BytesIO()
np.savez_compressed(_GOOD_NPZ, x=np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3), y=np.arange(2))
_GOOD_NPZ = _GOOD_NPZ.getvalue()

npz_bytes = st.one_of(st.binary(max_size=2048), st.binary(max_size=512).map(lambda b: b"PK\x03\x04" + b),
                      mutated(_GOOD_NPZ))


@FUZZ
@given(blob=npz_bytes)
def test_fuzz_npz_bytes(tmp_path, blob):
    (tmp_path / "fuzz.npz").write_bytes(blob)
    only_semready_errors(lambda: load_data(f"npz:{tmp_path}/fuzz.npz"))


_DTYPES = st.sampled_from(["u1", "i1", "u2", "i4", "i8", "f2", "f4", "f8", "c8", "?", "U3", "S2", "M8[s]"])
arrays = _DTYPES.flatmap(lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=5, min_side=0,
                                                                               max_side=12)))


@FUZZ
@given(x=arrays, y=st.none() | arrays, classes=st.none() | arrays, image_size=st.none() | st.integers(-2, 40))
@example(x=np.zeros((1, 1, 1), np.uint8), y=None, classes=np.array([b"\x80"], dtype="S2"), image_size=None)
def test_fuzz_npz_arrays(tmp_path, x, y, classes, image_size):
    extra = {k: v for k, v in (("y", y), ("classes", classes)) if v is not None}
    np.savez(tmp_path / "a.npz", x=x, **extra)
    d = only_semready_errors(lambda: load_data(f"npz:{tmp_path}/a.npz", image_size=image_size))
    if d is not None:
        assert x.dtype == np.uint8 and len(d) == len(x)  # only uint8 images load, all of them


image_bytes = st.one_of(st.binary(max_size=1024), *(mutated(_encoded(f, m)) for f, m in
                        (("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "CMYK"),
                         ("WEBP", "RGB"))))


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL's notes on damaged metadata (EXIF, TIFF tags)
@FUZZ
@given(blobs=st.lists(image_bytes, min_size=1, max_size=3), ext=st.sampled_from([".png", ".jpg", ".gif", ".bmp",
                                                                                 ".tif", ".webp"]),
       image_size=st.none() | st.just(16))
def test_fuzz_image_files_in_a_folder(tmp_path, blobs, ext, image_size):
    root = tmp_path / "f"
    shutil.rmtree(root, ignore_errors=True)
    for k, blob in enumerate(blobs):
        (root / f"c{k % 2}").mkdir(parents=True, exist_ok=True)
        (root / f"c{k % 2}" / f"{k}{ext}").write_bytes(blob)
    only_semready_errors(lambda: load_data(f"folder:{root}", image_size=image_size))
    try:
        for images, _ in iter_batches(f"folder:{root}", 2, image_size=image_size):
            assert images.dtype == torch.uint8
    except SemreadyError:
        pass


@FUZZ
@example(blob=b"", record="¹", image_size=None)  # str.isdigit() says yes, int() says no (found by this test)
@given(blob=st.binary(max_size=4096), record=st.one_of(st.integers(-3, 5000).map(str), st.text(max_size=6)),
       image_size=st.none() | st.integers(8, 24))
def test_fuzz_bytes_streams(tmp_path, blob, record, image_size):
    (tmp_path / "s.bin").write_bytes(blob)
    only_semready_errors(lambda: load_data(f"bytes:{tmp_path}/s.bin:{record}", image_size=image_size))


@FUZZ
@example(spec="~0")  # an unknown ~user: pathlib raises RuntimeError (found by this test)
@example(spec="npz:~nosuchuser_0/x.npz")
@given(spec=st.text(max_size=30))
def test_fuzz_spec_strings_parse_or_refuse(spec):
    try:
        scheme, args = parse_spec(spec)
    except SemreadyError as e:
        assert "\n" not in str(e)
    else:
        assert isinstance(scheme, str) and all(isinstance(a, str) for a in args)
        if scheme in ("npz", "bytes"):  # files only: never walks a folder tree or the network
            only_semready_errors(lambda: load_data(spec))


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    cfg = build_config("quick", overrides={"model": {"width": 4, "embed_dim": 8, "clusters": 2},
                                           "bank": {"size": 16, "min_negatives": 1}, "train": {"batch_size": 8}})
    teacher = Teacher.from_config(cfg)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.safetensors"
    tensors = {f"teacher.{k}": v.contiguous() for k, v in teacher.state_dict().items()}
    save_file(tensors, str(path), metadata={"semready_state": '{"format_version": 1, "epoch": 1}'})
    return cfg, path.read_bytes()


@FUZZ
@given(data=st.data())
def test_fuzz_checkpoints(tmp_path, good_checkpoint, data):
    cfg, good = good_checkpoint
    blob = data.draw(st.one_of(st.binary(max_size=256), mutated(good[:4096]), mutated(good)))
    (tmp_path / "checkpoint.safetensors").write_bytes(blob)
    try:
        read_tensors(tmp_path / "checkpoint.safetensors")
        state = load_checkpoint(tmp_path, Teacher.from_config(cfg))
    except SemreadyError as e:
        assert "\n" not in str(e)
    else:
        assert state["format_version"] == 1


yaml_text = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(
    ["train:", "data:", "  epochs: 3", "  lr: -1", "  spec: sample", "model: {clusters: x}", "- a", "[", "{", ":",
     "  ", "\t", "!!python/object:os.system", "*anchor", "&a b", "bank: {size: 1e9}", "train: {epochs: 1.5}"]),
    max_size=6).map("\n".join))


@FUZZ
@given(text=yaml_text)
def test_fuzz_config_files(tmp_path, text):
    path = Path(tmp_path) / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        build_config("quick", path)
    except SemreadyError as e:
        assert "\n" not in str(e)
