"""Tests for semready.data: specs, sources, conversion rule, batching, and error messages."""

import io
import pickle
import tracemalloc
import zipfile
from importlib import resources

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar as tv_cifar
from PIL import Image

from semready.data import SPEC_HELP, ImageData, iter_batches, load_data, parse_spec
from semready.errors import SemreadyError

RNG = np.random.default_rng(0)


def fails(spec, match, **kw):
    """load_data(spec) must raise a one-line SemreadyError whose message contains ``match``."""
    with pytest.raises(SemreadyError) as info:
        load_data(spec, **kw)
    msg = str(info.value)
    assert match in msg, msg
    assert "\n" not in msg
    return msg


def chw(x):
    """N×H×W×C numpy -> the N×C×H×W tensor load_data should return."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def collect(spec, batch_size, **kw):
    batches = list(iter_batches(spec, batch_size, **kw))
    sizes = [len(x) for x, _ in batches]
    labels = None if batches[0][1] is None else np.concatenate([y for _, y in batches])
    return torch.cat([x for x, _ in batches]), labels, sizes


def check_batches(spec, batch_size, **kw):
    """iter_batches yields every item once, in order, in full batches plus a remainder."""
    full = load_data(spec, **kw)
    images, labels, sizes = collect(spec, batch_size, **kw)
    n = len(full)
    assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    assert torch.equal(images, full.images)
    assert (labels is None) == (full.labels is None)
    if labels is not None:
        assert np.array_equal(labels, full.labels)


# ---------------------------------------------------------------- sample


def test_sample_loads_real_cifar_pixels():
    d = load_data()
    assert isinstance(d, ImageData) and d.spec == "sample"
    assert len(d) == 4000 and d.images.shape == (4000, 3, 32, 32)
    assert d.images.dtype == torch.uint8 and d.images.is_contiguous()
    assert d.labels.dtype == np.int64 and set(d.labels.tolist()) == set(range(10))
    assert d.classes[:3] == ["airplane", "automobile", "bird"] and len(d.classes) == 10
    assert d.images[0, :, 0, 0].tolist() == [59, 62, 63]
    with resources.as_file(resources.files("semready.data") / "sample" / "cifar10_sample.npz") as p:
        z = np.load(p, allow_pickle=False)
        assert z["x"][0, 0, 0].tolist() == [59, 62, 63]
        assert torch.equal(d.images, chw(z["x"])) and np.array_equal(d.labels, z["y"])
        assert z["orig_index"].tolist() == list(range(4000))
    assert d.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]


def test_sample_batches_and_resize():
    check_batches("sample", 1500)
    assert load_data("sample", image_size=40).images.shape == (4000, 3, 40, 40)


# ---------------------------------------------------------------- specs


@pytest.mark.parametrize("spec, expected", [
    ("sample", ("sample", [])),
    ("npz:/a/b.npz", ("npz", ["/a/b.npz"])),
    ("npz:C:/a:b.npz", ("npz", ["C:/a:b.npz"])),
    ("folder:/imgs", ("folder", ["/imgs"])),
    ("bytes:/d/x.bin:3072", ("bytes", ["/d/x.bin", "3072"])),
    ("bytes:/d:x.bin:48", ("bytes", ["/d:x.bin", "48"])),
    ("bytes:/d/x.bin", ("bytes", ["/d/x.bin"])),
    ("cifar10:/data", ("cifar10", ["/data"])),
    ("cifar10:/data:test", ("cifar10", ["/data", "test"])),
    ("cifar100:/data:train", ("cifar100", ["/data", "train"])),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec, match", [
    ("imagenet:/x", "unknown data spec"),
    ("", "unknown data spec"),
    ("sample:extra", "takes no arguments"),
    ("npz:", "has no path"),
    ("cifar10:", "has no path"),
])
def test_parse_spec_errors(spec, match):
    fails(spec, match)


def test_spec_help_and_path_hint(tmp_path):
    assert "\n" not in SPEC_HELP
    for usage in ("sample", "npz:PATH", "folder:PATH", "bytes:PATH:RECORD_SIZE", "cifar10:ROOT[:test]"):
        assert usage in SPEC_HELP
    assert SPEC_HELP in fails("nope", "unknown data spec")
    msg = fails(str(tmp_path), "holds no images")  # a bare folder is read as folder:, no hint to write it
    assert "folder:" in msg and "write folder:" not in msg


@pytest.mark.parametrize("kw, match", [
    ({"image_size": 4}, "image_size must be an integer >= 8"),
    ({"image_size": "32"}, "image_size must be"),
    ({"image_size": True}, "image_size must be"),
])
def test_bad_image_size(kw, match):
    fails("sample", match, **kw)


def test_iter_batches_checks_eagerly(tmp_path):
    for bad in (0, -1, 2.5, None):
        with pytest.raises(SemreadyError, match="batch_size must be"):
            iter_batches("sample", bad)
    with pytest.raises(SemreadyError, match="does not exist"):
        iter_batches(f"npz:{tmp_path}/missing.npz", 4)  # raised before the first next()


# ---------------------------------------------------------------- npz


def test_npz_roundtrip_rgb_labels_classes(tmp_path):
    x = RNG.integers(0, 256, (7, 9, 11, 3), dtype=np.uint8)
    y = RNG.integers(0, 3, 7)
    spec = save_npz(tmp_path / "a.npz", x=x, y=y, classes=np.array(["a", "b", "c"]))
    d = load_data(spec)
    assert torch.equal(d.images, chw(x)) and d.images.is_contiguous()
    assert d.labels.dtype == np.int64 and np.array_equal(d.labels, y)
    assert d.classes == ["a", "b", "c"] and d.spec == spec
    check_batches(spec, 3)


def test_npz_grayscale_and_single_channel_repeat(tmp_path):
    g = RNG.integers(0, 256, (4, 8, 10), dtype=np.uint8)
    expected = chw(np.repeat(g[..., None], 3, axis=-1))
    for name, arr in (("g.npz", g), ("g1.npz", g[..., None])):
        d = load_data(save_npz(tmp_path / name, x=arr))
        assert torch.equal(d.images, expected) and d.labels is None and d.classes is None


def test_npz_rgba_composited_over_white(tmp_path):
    px = np.array([[255, 0, 0, 0], [0, 0, 0, 255], [100, 50, 0, 128], [10, 20, 30, 255], [0, 0, 0, 1]],
                  dtype=np.uint8)
    x = np.tile(px[None, None, :, :], (1, 8, 2, 1))  # 1 × 8 × 10 × 4
    d = load_data(save_npz(tmp_path / "a.npz", x=x))
    got = d.images[0, :, 0, :5].T.tolist()
    # round((c*a + 255*(255-a)) / 255)
    assert got == [[255, 255, 255], [0, 0, 0], [177, 152, 127], [10, 20, 30], [254, 254, 254]]


@pytest.mark.parametrize("arrays, match", [
    ({"y": np.zeros(3, np.int64)}, "has no array 'x'"),
    ({"x": np.zeros((3, 8), np.uint8)}, "2-D"),
    ({"x": np.zeros((3, 8, 8, 3, 1), np.uint8)}, "5-D"),
    ({"x": np.zeros((3, 8, 8, 5), np.uint8)}, "5 channels"),
    ({"x": np.zeros((3, 3, 8, 8), np.uint8)}, "channels-first"),
    ({"x": np.zeros((0, 8, 8, 3), np.uint8)}, "no pixels"),
    ({"x": np.zeros((2, 0, 8, 3), np.uint8)}, "no pixels"),
    ({"x": np.full((2, 8, 8, 3), 0.5, np.float32)}, "convert them to uint8 0-255"),
    ({"x": np.full((2, 8, 8, 3), np.nan, np.float32)}, "NaN or Inf"),
    ({"x": np.full((2, 8, 8, 3), np.inf)}, "NaN or Inf"),
    ({"x": np.zeros((2, 8, 8, 3), np.int64)}, "int64, not uint8"),
    ({"x": np.zeros((2, 8, 8, 3), bool)}, "not uint8"),
    ({"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.zeros(3, np.int64)}, "'x' has 2 images"),
    ({"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.zeros(2)}, "integer labels"),
    ({"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.array([0, -2])}, "outside"),  # -1 is "unlabelled"
    ({"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.array([0, 2]), "classes": np.array(["a", "b"])},
     "outside 0..1"),
    ({"x": np.zeros((2, 8, 8, 3), np.uint8), "classes": np.array([1, 2])}, "1-D str array"),
    ({"x": np.zeros((2, 8, 8, 3), np.uint8), "y": np.array([0, None], dtype=object)}, "pickled"),
    ({"x": np.zeros((2, 4, 4, 3), np.uint8)}, "smaller than the 8×8 minimum"),
])
def test_npz_bad_contents(tmp_path, arrays, match):
    fails(save_npz(tmp_path / "a.npz", **arrays), match)


def test_npz_bad_files(tmp_path):
    fails(f"npz:{tmp_path}/missing.npz", "does not exist")
    fails(f"npz:{tmp_path}", "is a directory")
    (tmp_path / "empty.npz").write_bytes(b"")
    fails(f"npz:{tmp_path}/empty.npz", "it is empty")
    (tmp_path / "text.npz").write_text("hello")
    fails(f"npz:{tmp_path}/text.npz", "not an .npz (zip) archive")
    np.save(tmp_path / "one.npy", np.zeros((2, 8, 8, 3), np.uint8))
    fails(f"npz:{tmp_path}/one.npy", "single .npy array")
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=RNG.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8))
    data = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    fails(f"npz:{tmp_path}/trunc.npz", "corrupt or truncated")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # inside the compressed x.npy member
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    fails(f"npz:{tmp_path}/flip.npz", "corrupt or truncated")
    with zipfile.ZipFile(tmp_path / "junk.npz", "w") as z:
        z.writestr("x.npy", b"not an npy header at all")
    fails(f"npz:{tmp_path}/junk.npz", "corrupt or truncated")


# Fuzzing of every loader (npz bytes and arrays, image files, bytes: streams, specs): tests/test_fuzz.py


# ---------------------------------------------------------------- resize rule


def test_resize_shorter_side_then_center_crop(tmp_path):
    x = np.zeros((1, 16, 48, 3), np.uint8)  # three 16×16 squares: red, green, blue
    x[0, :, :16, 0] = 255
    x[0, :, 16:32, 1] = 255
    x[0, :, 32:, 2] = 255
    spec = save_npz(tmp_path / "a.npz", x=x)
    green = load_data(spec, image_size=16).images[0]  # shorter side already 16: pure center crop
    assert torch.equal(green, chw(x[:, :, 16:32])[0])
    tall = np.full((2, 40, 20, 3), 77, np.uint8)
    d = load_data(save_npz(tmp_path / "b.npz", x=tall), image_size=10)
    assert d.images.shape == (2, 3, 10, 10) and bool((d.images == 77).all())
    up = load_data(spec, image_size=32).images
    assert up.shape == (1, 3, 32, 32) and up.is_contiguous()
    same = load_data(spec.replace("a.npz", "b.npz"), image_size=None).images
    assert same.shape == (2, 3, 40, 20)


# ---------------------------------------------------------------- bytes


def test_bytes_rgb_records(tmp_path):
    x = RNG.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    (tmp_path / "d.bin").write_bytes(x.tobytes())
    spec = f"bytes:{tmp_path}/d.bin:{16 * 16 * 3}"
    d = load_data(spec)
    assert torch.equal(d.images, chw(x)) and d.labels is None and d.classes is None
    check_batches(spec, 4)
    check_batches(spec, 10)
    check_batches(spec, 64)


def test_bytes_gray_and_padded_records(tmp_path):
    g = RNG.integers(0, 256, (6, 100), dtype=np.uint8)  # 100 = 10² -> 10×10 grayscale
    (tmp_path / "g.bin").write_bytes(g.tobytes())
    d = load_data(f"bytes:{tmp_path}/g.bin:100")
    assert torch.equal(d.images, chw(np.repeat(g.reshape(6, 10, 10, 1), 3, axis=-1)))
    r = RNG.integers(1, 256, (5, 70), dtype=np.uint8)  # 70 -> zero-padded to 81 = 9×9 grayscale
    (tmp_path / "r.bin").write_bytes(r.tobytes())
    spec = f"bytes:{tmp_path}/r.bin:70"
    d = load_data(spec)
    padded = np.concatenate([r, np.zeros((5, 11), np.uint8)], axis=1).reshape(5, 9, 9, 1)
    assert d.images.shape == (5, 3, 9, 9)
    assert torch.equal(d.images, chw(np.repeat(padded, 3, axis=-1)))
    check_batches(spec, 2)
    assert load_data(spec, image_size=18).images.shape == (5, 3, 18, 18)


def test_bytes_errors(tmp_path):
    (tmp_path / "d.bin").write_bytes(bytes(1000))
    msg = fails(f"bytes:{tmp_path}/d.bin:768", "not a multiple of RECORD_SIZE 768")
    assert "1000 bytes" in msg and "remainder 232" in msg
    fails(f"bytes:{tmp_path}/d.bin:0", "not a positive integer")
    fails(f"bytes:{tmp_path}/d.bin:-4", "not a positive integer")
    fails(f"bytes:{tmp_path}/d.bin:abc", "not a positive integer")
    fails(f"bytes:{tmp_path}/d.bin", "has no RECORD_SIZE")
    fails(f"bytes:{tmp_path}/nope.bin:10", "does not exist")
    (tmp_path / "e.bin").write_bytes(b"")
    fails(f"bytes:{tmp_path}/e.bin:10", "is empty")
    fails(f"bytes:{tmp_path}/d.bin:10", "smaller than the 8×8 minimum")  # 10 bytes -> 4×4


def test_bytes_stream_is_lazy(tmp_path):
    n, rec = 2000, 3072  # 6 MB stream, 16-record batches
    (tmp_path / "big.bin").write_bytes(RNG.integers(0, 256, n * rec, dtype=np.uint8).tobytes())
    tracemalloc.start()
    try:
        count = sum(len(x) for x, _ in iter_batches(f"bytes:{tmp_path}/big.bin:{rec}", 16))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == n and peak < 2_000_000, peak


# ---------------------------------------------------------------- folder


def make_folder(root, size=(12, 10)):
    """Two classes (cats: 3 RGB images, dogs: 2), PNGs; returns the expected images and labels."""
    xs = []
    for cls, k in (("cats", 3), ("dogs", 2)):
        (root / cls).mkdir(parents=True)
        for i in range(k):
            x = RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(x).save(root / cls / f"{i}.png")
            xs.append(x)
    return np.stack(xs), np.array([0, 0, 0, 1, 1])


def test_folder_roundtrip(tmp_path):
    x, y = make_folder(tmp_path / "f")
    (tmp_path / "f" / "cats" / "notes.txt").write_text("ignored: not an image extension")
    spec = f"folder:{tmp_path}/f"
    d = load_data(spec)
    assert torch.equal(d.images, chw(x)) and np.array_equal(d.labels, y) and d.classes == ["cats", "dogs"]
    check_batches(spec, 2)
    check_batches(spec, 5)


def test_folder_modes(tmp_path):
    root = tmp_path / "m" / "only"
    root.mkdir(parents=True)
    g = RNG.integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(g, "L").save(root / "a_gray.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :] = [100, 50, 0, 128]
    rgba[0, 0] = [255, 0, 0, 0]
    Image.fromarray(rgba, "RGBA").save(root / "b_rgba.png")
    pal = Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).convert("P")
    pal.save(root / "c_pal.png")
    Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / "d.jpg", quality=90)
    d = load_data(f"folder:{tmp_path}/m")
    assert torch.equal(d.images[0], torch.from_numpy(np.repeat(g[None], 3, axis=0)))
    assert d.images[1, :, 1, 1].tolist() == [177, 152, 127] and d.images[1, :, 0, 0].tolist() == [255] * 3
    assert torch.equal(d.images[2], torch.from_numpy(np.array(pal.convert("RGB")).transpose(2, 0, 1)))
    with Image.open(root / "d.jpg") as im:
        assert torch.equal(d.images[3], torch.from_numpy(np.array(im.convert("RGB")).transpose(2, 0, 1)))


def test_folder_mixed_sizes(tmp_path):
    make_folder(tmp_path / "f")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "f" / "dogs" / "big.png")
    msg = fails(f"folder:{tmp_path}/f", "pass image_size")
    assert "big.png" in msg and "20×30 (H×W)" in msg
    d = load_data(f"folder:{tmp_path}/f", image_size=16)
    assert d.images.shape == (6, 3, 16, 16)
    check_batches(f"folder:{tmp_path}/f", 4, image_size=16)
    with pytest.raises(SemreadyError, match="big.png"):
        collect(f"folder:{tmp_path}/f", 2)


def test_folder_errors(tmp_path):
    fails(f"folder:{tmp_path}/nope", "does not exist")
    (tmp_path / "file.png").write_bytes(b"x")
    fails(f"folder:{tmp_path}/file.png", "is a file")
    (tmp_path / "empty").mkdir()
    fails(f"folder:{tmp_path}/empty", "holds no images")
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "a" / "readme.txt").write_text("hi")
    fails(f"folder:{tmp_path}/noimg", "holds no images (searched recursively")
    make_folder(tmp_path / "bad")
    (tmp_path / "bad" / "dogs" / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    fails(f"folder:{tmp_path}/bad", "zz_broken.png")
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "bad" / "dogs" / "zz_broken.png").write_bytes(buf.getvalue()[:200])  # truncated
    fails(f"folder:{tmp_path}/bad", "cannot read image")


def test_folder_stream_is_lazy(tmp_path, monkeypatch):
    make_folder(tmp_path / "f")
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(fp) or real_open(fp, *a, **k))
    it = iter_batches(f"folder:{tmp_path}/f", 2)
    assert opened == []
    next(it)
    assert len(opened) == 2


# ---------------------------------------------------------------- cifar


def write_fake_cifar10(root, per_batch=2):
    """The official cifar-10-batches-py layout (pickled dicts), with tiny random batches."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rows = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = RNG.integers(0, 10, per_batch).tolist()
        (base / name).write_bytes(pickle.dumps({"data": data, "labels": labels}))
        rows[name] = (data, labels)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    return rows


def test_cifar_missing_root(tmp_path):
    fails(f"cifar10:{tmp_path}/none", "pass --download")
    fails(f"cifar100:{tmp_path}/none:test", "CIFAR-100 not found")
    (tmp_path / "cifar-10-batches-py").mkdir()
    fails(f"cifar10:{tmp_path}/cifar-10-batches-py", "use its parent")


def test_cifar_fake_layout_loads(tmp_path, monkeypatch):
    # torchvision checks the official md5 sums, which no fake can match: accept these files.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    rows = write_fake_cifar10(tmp_path)
    d = load_data(f"cifar10:{tmp_path}")
    train = np.concatenate([rows[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert torch.equal(d.images, torch.from_numpy(train.reshape(-1, 3, 32, 32)))
    assert d.labels.tolist() == sum((rows[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert d.classes[0] == "airplane" and len(d.classes) == 10
    t = load_data(f"cifar10:{tmp_path}:test")
    assert torch.equal(t.images, torch.from_numpy(rows["test_batch"][0].reshape(-1, 3, 32, 32)))
    check_batches(f"cifar10:{tmp_path}", 3)
