"""Inputs at real scale (issue 16, item 3): flat and nested unlabelled folders, file lists, bare paths, -1 as
"unlabelled", webdataset shards, the hf extra, decoding in worker processes. Expected values are built
independently: PNGs whose pixels are known, tar files written here, labels written here."""

import io
import os
import sys
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from semready.data import iter_batches, load_data, parse_spec
from semready.data.files import expand_braces
from semready.data.identity import fingerprint
from semready.errors import SemreadyError

RNG = np.random.default_rng(7)


def png(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(x).save(path)


def pixels(n, side=10):
    return RNG.integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def chw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def fails(spec, match, **kw):
    with pytest.raises(SemreadyError) as info:
        load_data(spec, **kw)
    msg = str(info.value)
    assert match in msg and "\n" not in msg, msg
    return msg


# ---------------------------------------------------------------- folders


def test_flat_folder_is_unlabelled_in_name_order(tmp_path):
    x = pixels(4)
    for k, name in enumerate(["b.png", "a.png", "c.PNG", "d.jpeg"]):
        Image.fromarray(x[k]).save(tmp_path / name, quality=95) if name.endswith("jpeg") else png(tmp_path / name, x[k])
    (tmp_path / ".hidden.png").write_bytes(b"not read")  # dot files are skipped
    (tmp_path / "notes.txt").write_text("not an image")
    d = load_data(f"folder:{tmp_path}")
    assert d.labels is None and d.classes is None
    assert d.ids == ["a.png", "b.png", "c.PNG", "d.jpeg"]
    assert d.paths == [str(tmp_path / i) for i in d.ids]
    assert torch.equal(d.images[:3], chw(x[[1, 0, 2]]))  # PNG is lossless: exact pixels
    assert load_data(str(tmp_path)).ids == d.ids  # a bare folder is folder:


def test_class_folders_stay_labels(tmp_path):
    x = pixels(3)
    png(tmp_path / "dogs" / "1.png", x[0])
    png(tmp_path / "cats" / "2.png", x[1])
    png(tmp_path / "cats" / "1.png", x[2])
    d = load_data(f"folder:{tmp_path}")
    assert d.classes == ["cats", "dogs"] and d.labels.tolist() == [0, 0, 1]
    assert d.ids == ["cats/1.png", "cats/2.png", "dogs/1.png"]
    assert torch.equal(d.images, chw(x[[2, 1, 0]]))


@pytest.mark.parametrize("extra", ["top.png", "cats/deeper/x.png"])
def test_any_other_tree_is_recursive_and_unlabelled(tmp_path, extra):
    x = pixels(3)
    png(tmp_path / "cats" / "1.png", x[0])
    png(tmp_path / "dogs" / "1.png", x[1])
    png(tmp_path / extra, x[2])
    d = load_data(f"folder:{tmp_path}")
    assert d.labels is None and d.classes is None
    assert sorted(d.ids) == sorted(["cats/1.png", "dogs/1.png", extra]) and len(d) == 3
    by_id = dict(zip(d.ids, d.images, strict=True))
    assert torch.equal(by_id[extra], chw(x[2:3])[0])


# ---------------------------------------------------------------- file lists


def test_file_list_relative_absolute_comments_and_tabs(tmp_path):
    x = pixels(3)
    png(tmp_path / "imgs" / "a.png", x[0])
    png(tmp_path / "elsewhere" / "b.png", x[1])
    png(tmp_path / "imgs" / "c.png", x[2])
    (tmp_path / "lists").mkdir()
    lst = tmp_path / "lists" / "items.txt"
    lst.write_text(f"# my items\n../imgs/c.png\n\n  {tmp_path}/elsewhere/b.png\nid7\t../imgs/a.png\n")
    d = load_data(f"list:{lst}")
    assert torch.equal(d.images, chw(x[[2, 1, 0]]))
    assert d.ids == ["../imgs/c.png", f"{tmp_path}/elsewhere/b.png", "../imgs/a.png"]
    assert d.paths == [str(tmp_path / "imgs" / "c.png"), str(tmp_path / "elsewhere" / "b.png"),
                       str(tmp_path / "imgs" / "a.png")]
    assert load_data(str(lst)).ids == d.ids  # a bare .txt is list:
    assert parse_spec(str(lst)) == ("list", [str(lst)])


def test_file_list_errors(tmp_path):
    png(tmp_path / "a.png", pixels(1)[0])
    (tmp_path / "l.txt").write_text("a.png\ngone1.png\n# gone0.png\ngone2.png\n")
    msg = fails(f"list:{tmp_path}/l.txt", "names 2 missing file(s) of 3")
    assert f"the first {tmp_path}/gone1.png (line 2)" in msg and "fix or remove those lines" in msg
    (tmp_path / "e.txt").write_text("# nothing\n\n")
    fails(f"list:{tmp_path}/e.txt", "names no images")
    fails(f"list:{tmp_path}/nope.txt", "does not exist")


# ---------------------------------------------------------------- bare paths and specs


def test_bare_paths(tmp_path):
    np.savez(tmp_path / "d.npz", x=pixels(2))
    assert parse_spec(str(tmp_path / "d.npz")) == ("npz", [str(tmp_path / "d.npz")])
    assert len(load_data(str(tmp_path / "d.npz"))) == 2
    (tmp_path / "x.bin").write_bytes(bytes(3072))
    msg = fails(str(tmp_path / "x.bin"), "only .npz files and .txt file lists are read without a scheme")
    assert "bytes:PATH:RECORD_SIZE" in msg
    msg = fails(str(tmp_path / "missing.npz"), "no file or folder of that name exists")
    assert "check the path, or use one of" in msg and "list:FILE" in msg


# ---------------------------------------------------------------- -1 = unlabelled


def test_npz_minus_one_is_unlabelled(tmp_path):
    y = np.array([2, -1, 0, -1])
    np.savez(tmp_path / "p.npz", x=pixels(4), y=y, classes=np.array(["a", "b", "c"]))
    assert load_data(f"npz:{tmp_path}/p.npz").labels.tolist() == [2, -1, 0, -1]
    np.savez(tmp_path / "bad.npz", x=pixels(2), y=np.array([0, -2]))
    fails(f"npz:{tmp_path}/bad.npz", "(-1 marks an unlabelled item)")


def test_evaluate_ignores_unlabelled_items(tmp_path, tiny_npz):
    from semready.pipeline import evaluate
    from tests.conftest import train_tiny

    run = train_tiny(tmp_path / "run", tiny_npz)
    z = np.load(tiny_npz)
    x, y = z["x"], z["y"].copy()
    keep = np.arange(len(y)) % 3 != 0
    np.savez(tmp_path / "partial.npz", x=x, y=np.where(keep, y, -1))
    np.savez(tmp_path / "subset.npz", x=x[keep], y=y[keep])
    partial = evaluate(run, f"npz:{tmp_path}/partial.npz", kmeans=False)
    subset = evaluate(run, f"npz:{tmp_path}/subset.npz", kmeans=False)
    assert partial["labelled_items"] == keep.sum() == subset["items"] and partial["items"] == len(y)
    assert partial["cluster_head"] == subset["cluster_head"]
    np.savez(tmp_path / "none.npz", x=x, y=np.full(len(y), -1))
    with pytest.raises(SemreadyError, match="has no labels"):
        evaluate(run, f"npz:{tmp_path}/none.npz", kmeans=False)


# ---------------------------------------------------------------- webdataset shards


def write_shard(path, items):
    """items: (key, {ext: bytes}) in order."""
    with tarfile.open(path, "w") as tar:
        for key, members in items:
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def png_bytes(x):
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "PNG")
    return buf.getvalue()


def test_webdataset_shards(tmp_path):
    x = pixels(5)
    write_shard(tmp_path / "s-000.tar", [(f"a{k}", {"png": png_bytes(x[k]), "cls": str(k).encode()}) for k in (0, 1)])
    write_shard(tmp_path / "s-001.tar", [("sub/b2", {"png": png_bytes(x[2]), "cls": b"-1", "json": b"{}"}),
                                        ("meta", {"json": b"{}"})])  # no image: skipped
    write_shard(tmp_path / "s-002.tar", [("c3", {"png": png_bytes(x[3]), "cls": b"0"})])
    d = load_data(f"wds:{tmp_path}/s-{{000..001}}.tar")
    assert torch.equal(d.images, chw(x[:3])) and d.labels.tolist() == [0, 1, -1]
    assert d.ids == ["s-000.tar/a0", "s-000.tar/a1", "s-001.tar/sub/b2"]
    assert len(load_data(f"wds:{tmp_path}/s-*.tar")) == 4
    assert fingerprint(f"wds:{tmp_path}/s-*.tar") != fingerprint(f"wds:{tmp_path}/s-00[01].tar")
    fails(f"wds:{tmp_path}/t-{{0..3}}.tar", "no webdataset shard matches")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 40)
    fails(f"wds:{tmp_path}/junk.tar", "not a readable tar file")


def test_expand_braces():
    assert expand_braces("a{1..3}b{x,y}") == ["a1bx", "a1by", "a2bx", "a2by", "a3bx", "a3by"]
    assert expand_braces("plain.tar") == ["plain.tar"]


# ---------------------------------------------------------------- Hugging Face extra


def test_hf_without_datasets_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError, installed or not
    msg = fails("hf:cifar10:test", "pip install 'semready[hf]'")
    assert "'datasets' package, which is not installed" in msg
    assert parse_spec("hf:user/name:validation") == ("hf", ["user/name", "validation"])


def test_hf_saved_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    x = pixels(3)
    features = datasets.Features({"img": datasets.Image(), "y": datasets.ClassLabel(names=["a", "b"])})
    ds = datasets.Dataset.from_dict({"img": [Image.fromarray(v) for v in x], "y": [1, 0, -1]}, features=features)
    ds.save_to_disk(str(tmp_path / "saved"))
    d = load_data(f"hf:{tmp_path}/saved")
    assert torch.equal(d.images, chw(x)) and d.labels.tolist() == [1, 0, -1] and d.classes == ["a", "b"]


# ---------------------------------------------------------------- worker processes


def test_workers_give_the_same_batches(tmp_path):
    x = pixels(23)
    for k in range(23):
        png(tmp_path / "f" / f"{k:03d}.png", x[k])
    spec = f"folder:{tmp_path}/f"
    for workers in (0, 2):
        batches = list(iter_batches(spec, 5, workers=workers, with_ids=True))
        assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
        assert torch.equal(torch.cat([b[0] for b in batches]), chw(x))
        assert sum((b[2] for b in batches), []) == [f"{k:03d}.png" for k in range(23)]
    assert torch.equal(load_data(spec, workers=2).images, chw(x))


def test_worker_errors_are_one_line(tmp_path):
    x = pixels(12)
    for k in range(12):
        png(tmp_path / "f" / f"{k:03d}.png", x[k])
    (tmp_path / "f" / "007.png").write_bytes(b"broken")
    with pytest.raises(SemreadyError) as info:
        list(iter_batches(f"folder:{tmp_path}/f", 4, workers=2))
    assert str(info.value).startswith(f"cannot read image {tmp_path}/f/007.png") and "\n" not in str(info.value)
    os.remove(tmp_path / "f" / "007.png")
    png(tmp_path / "f" / "009.png", pixels(1, side=12)[0])  # a different size, in the third batch
    with pytest.raises(SemreadyError, match="009.png is 12×12 .H×W. but earlier images are 10×10"):
        list(iter_batches(f"folder:{tmp_path}/f", 4, workers=2))
    with pytest.raises(SemreadyError, match="workers must be an integer >= 0"):
        iter_batches(f"folder:{tmp_path}/f", 4, workers=-1)


def test_a_folder_fingerprint_covers_exactly_the_images_the_loader_reads(tmp_path):
    """Hidden and non-image files do not change it (the loader skips them); an edited image does, also one reached
    through a symlinked folder (the loader follows links)."""
    import os

    from PIL import Image

    from semready.data.identity import fingerprint

    root, elsewhere = tmp_path / "imgs", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "a.png")
    Image.fromarray(np.full((4, 4, 3), 9, np.uint8)).save(elsewhere / "b.png")
    os.symlink(elsewhere, root / "linked")
    before = fingerprint(f"folder:{root}")
    (root / ".DS_Store").write_bytes(b"finder")
    (root / "notes.txt").write_text("not an image")
    assert fingerprint(f"folder:{root}") == before
    Image.fromarray(np.full((4, 4, 3), 10, np.uint8)).save(elsewhere / "b.png")
    after = fingerprint(f"folder:{root}")
    assert after != before and after[0] == before[0]  # same size, other bytes
