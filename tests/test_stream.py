"""Training and splitting a stream left on disk (issue 16, item 3: ``data.stream``): the streamed images answer
every read exactly as the in-memory tensor does, batches come back in the asked order from worker processes, a
run trained streamed is the run trained in memory, and bad input is refused in one line."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from semready import api
from semready.config import build_config
from semready.data import StreamedImages, load_data, ordered_batches
from semready.data.pixels import pixel_vectors
from semready.errors import SemreadyError
from tests.conftest import tiny_overrides


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """96 real sample images as PNG files (a flat folder), and the same pixels as a tensor."""
    x = load_data("sample").images[:96]
    root = tmp_path_factory.mktemp("photos")
    for k in range(len(x)):
        Image.fromarray(x[k].permute(1, 2, 0).numpy()).save(root / f"{k:03d}.png")
    return root, x


def test_streamed_images_answer_every_read_like_the_tensor(photos):
    root, x = photos
    data = load_data(f"folder:{root}", stream=True, workers=0)
    s = data.images
    assert isinstance(s, StreamedImages) and len(s) == len(data) == 96
    assert s.shape == x.shape and s.ndim == 4 and s.dtype == torch.uint8
    assert torch.equal(s[5], x[5]) and torch.equal(s[-1], x[95])
    assert torch.equal(s[10:20:3], x[10:20:3]) and torch.equal(s[90:], x[90:])
    idx = torch.tensor([7, 3, 3, 60])
    assert torch.equal(s[idx], x[idx]) and torch.equal(s[idx.numpy()], x[idx])
    mask = np.arange(96) % 5 == 1
    assert torch.equal(s[mask], x[torch.from_numpy(mask)])
    assert s[np.array([], dtype=np.int64)].shape == (0, 3, 32, 32)
    with pytest.raises(IndexError):
        s[np.ones(5, dtype=bool)]
    for bad in (96, -97, [3, 200]):  # what the tensor refuses, the stream refuses (never another item)
        with pytest.raises(IndexError):
            x[torch.as_tensor(bad)]
        with pytest.raises(IndexError):
            s[bad]
    assert torch.equal(s[torch.tensor(4)], x[4]) and torch.equal(s[np.int64(-2)], x[-2])
    assert data.ids[:2] == ["000.png", "001.png"]  # the ids of the in-memory path
    assert data.ids == load_data(f"folder:{root}").ids


def test_pixel_vectors_streamed_equal_the_in_memory_ones_and_are_computed_once(photos, monkeypatch):
    root, x = photos
    s = load_data(f"folder:{root}", stream=True, workers=0).images
    want = pixel_vectors(x, 16)
    got = pixel_vectors(s, 16)
    assert got.shape == (96, 3 * 16 * 16) and torch.equal(got, want)
    calls = []
    monkeypatch.setattr(StreamedImages, "batches", lambda *a: calls.append(a) or iter(()))
    assert pixel_vectors(s, 16) is got and not calls  # cached: the split asks twice, decodes once


@pytest.mark.parametrize("workers", [0, 2])
def test_ordered_batches_come_back_in_the_asked_order(photos, workers):
    root, x = photos
    s = load_data(f"folder:{root}", stream=True, workers=workers).images
    order = torch.randperm(96, generator=torch.Generator().manual_seed(3))[:50]
    before = torch.random.get_rng_state()
    got = list(ordered_batches(s, order, 16))
    # the global generator is untouched: dropout masks of a streamed run are the in-memory run's
    assert torch.equal(torch.random.get_rng_state(), before)
    assert [len(b) for b in got] == [16, 16, 16, 2]
    assert torch.equal(torch.cat(got), x[order])
    assert torch.equal(torch.cat(list(ordered_batches(x, order, 16))), x[order])  # in memory: the same


@pytest.mark.parametrize("workers", [0, 2])
def test_an_odd_image_is_refused_in_one_line_when_it_is_read(tmp_path, photos, workers):
    _, x = photos
    for k in range(40):
        Image.fromarray(x[k].permute(1, 2, 0).numpy()).save(tmp_path / f"{k:03d}.png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "033.png")
    (tmp_path / "021.png").write_bytes(b"broken")
    s = load_data(f"folder:{tmp_path}", stream=True, workers=workers).images
    with pytest.raises(SemreadyError) as info:
        list(ordered_batches(s, torch.arange(40), 8))
    msg = str(info.value)
    assert msg.startswith(f"cannot read image {tmp_path}/021.png") and "\n" not in msg
    with pytest.raises(SemreadyError, match="033.png is 20×20 .H×W. but earlier images are 32×32"):
        list(ordered_batches(s, torch.arange(30, 40), 8))


def test_arrays_cannot_stream(tiny_npz):
    with pytest.raises(SemreadyError, match="data.stream needs a source of image files .* set data.stream to false"):
        load_data(f"npz:{tiny_npz}", stream=True)


def _train(run, root, stream, epochs=2):
    over = tiny_overrides(root, epochs=epochs)
    over["data"] = {"spec": f"folder:{root}", "stream": stream, "workers": 2 if stream else 0}
    over["rank"] = {"score": "paper"}
    return api.train(run, build_config("quick", overrides=over), progress=False)


def test_a_run_trained_streamed_is_the_run_trained_in_memory(tmp_path, photos):
    root, _ = photos
    a = _train(tmp_path / "mem", root, stream=False)
    b = _train(tmp_path / "disk", root, stream=True)
    for key in ("loss", "l_i", "l_d"):
        assert [r[key] for r in a["log"]] == [r[key] for r in b["log"]]
    assert (tmp_path / "mem" / "samples.csv").read_text() == (tmp_path / "disk" / "samples.csv").read_text()
    cfg = (tmp_path / "disk" / "config.yaml").read_text()
    assert "stream: true" in cfg and "workers: 2" in cfg
    # the re-split and the route of a streamed run read the stream from disk again, and agree with memory's
    for run in ("mem", "disk"):
        api.split(tmp_path / run, "budget", 0.25)
    assert json.loads((tmp_path / "mem" / "split.json").read_text()) == \
        json.loads((tmp_path / "disk" / "split.json").read_text())
    assert (tmp_path / "mem" / "samples.csv").read_text() == (tmp_path / "disk" / "samples.csv").read_text()


def test_a_streamed_run_resumes(tmp_path, photos):
    root, _ = photos
    _train(tmp_path / "r", root, stream=True, epochs=1)
    log = api.train(tmp_path / "r", resume=True, epochs=2, progress=False)["log"]
    ref = _train(tmp_path / "ref", root, stream=False, epochs=2)["log"]
    assert [r["loss"] for r in log] == [r["loss"] for r in ref]


def test_a_saved_hugging_face_dataset_streams(tmp_path, photos):
    datasets = pytest.importorskip("datasets")
    _, x = photos
    ds = datasets.Dataset.from_dict({"img": [Image.fromarray(v.permute(1, 2, 0).numpy()) for v in x[:20]]},
                                    features=datasets.Features({"img": datasets.Image()}))
    ds.save_to_disk(str(tmp_path / "saved"))
    s = load_data(f"hf:{tmp_path}/saved", stream=True, workers=0).images
    assert isinstance(s, StreamedImages) and torch.equal(s[torch.arange(20)], x[:20])
    assert torch.equal(torch.cat(list(ordered_batches(s, torch.arange(19, -1, -1), 6))), x[:20].flip(0))
