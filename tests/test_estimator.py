"""semready.Disentangler: fit / transform / fit_transform on images in memory, on tiny real data (64 items of the
embedded sample, 2 epochs of a tiny teacher)."""

import csv
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import semready
from semready import api
from semready.errors import SemreadyError
from semready.estimator import COLUMNS, Disentangler, as_images

TINY = {"model": {"width": 8, "embed_dim": 16, "clusters": 3}, "bank": {"size": 64, "min_negatives": 8},
        "train": {"epochs": 2, "batch_size": 32, "warmup_epochs": 1, "threads": 1, "device": "cpu"}}


def col(table, name) -> np.ndarray:
    """A column of either table form (DataFrame or dict of arrays)."""
    return np.asarray(table[name])


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


@pytest.fixture(scope="module")
def items() -> np.ndarray:
    """64 real images, uint8 N×H×W×C."""
    return api.load_data("sample").images[:64].permute(0, 2, 3, 1).numpy().copy()


@pytest.fixture(scope="module")
def fitted(items):
    """A Disentangler fitted with the paper score (its fitted and routed learnability are the same function)."""
    return Disentangler(**TINY, rank={"score": "paper"}).fit(items)


def test_the_table_has_one_row_per_item_each_in_exactly_one_split(fitted, items):
    table = fitted.transform()
    assert tuple(table.keys() if isinstance(table, dict) else table.columns) == COLUMNS
    assert all(len(col(table, c)) == len(items) for c in COLUMNS)
    assert col(table, "id").tolist() == list(range(len(items)))
    assert set(col(table, "split")) <= {"learnable", "memorizable"}
    assert set(col(table, "cluster")) <= {0, 1, 2}
    conf = col(table, "confidence")
    assert ((conf >= 0) & (conf <= 1)).all()  # eq. 3's probability of the item's own cluster
    # the same numbers as the run's own samples.csv, read independently
    with open(fitted.run_dir / "samples.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["split"] for r in rows] == col(table, "split").tolist()
    assert np.allclose([float(r["learnability"]) for r in rows], col(table, "learnability"))
    assert (col(table, "split") == "learnable").sum() == fitted.summary["learnable"]


def test_new_items_are_routed_like_the_same_items_fitted(fitted, items):
    fit_table = fitted.transform()
    new = fitted.transform(torch.from_numpy(items).permute(0, 3, 1, 2))  # N×C×H×W tensor this time
    assert col(new, "id").tolist() == list(range(len(items)))
    assert np.array_equal(col(new, "cluster"), col(fit_table, "cluster"))
    assert np.allclose(col(new, "confidence"), col(fit_table, "confidence"), atol=2e-6)
    assert np.allclose(col(new, "learnability"), col(fit_table, "learnability"), atol=2e-6)
    assert np.array_equal(col(new, "split"), col(fit_table, "split"))
    part = fitted.transform(items[10:15])  # a subset: rows of those items, ids from 0
    assert col(part, "cluster").tolist() == col(fit_table, "cluster")[10:15].tolist()


def test_a_dataset_of_pil_images_and_labels_gives_the_same_routing(fitted, items):
    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return Image.fromarray(items[i]), i % 2

    x, y = as_images(Pairs())
    assert np.array_equal(x, items[:8]) and y.tolist() == [0, 1] * 4
    a, b = fitted.transform(Pairs()), fitted.transform(items[:8])
    assert all(np.array_equal(col(a, c), col(b, c)) for c in COLUMNS)


def test_a_resplit_shows_in_the_table(fitted):
    assert "budget" in api.POLICIES
    fitted.split("budget", 0.25)
    split = col(fitted.transform(), "split")
    assert (split == "memorizable").sum() == 16  # the 25 % least learnable of 64


def test_fit_transform_into_a_given_folder_keeps_a_working_run(items, tmp_path):
    d = Disentangler(**TINY, out=tmp_path / "run")
    table = d.fit_transform(items[:40], labels=np.arange(40) % 4)
    assert len(col(table, "id")) == 40 and d.run_dir == tmp_path / "run"
    spec = api.RunDir(tmp_path / "run").read_config().data.spec
    assert spec == f"npz:{tmp_path / 'run.fit.npz'}"  # the fitted items beside the run, for later commands
    assert "label" in (tmp_path / "run" / "samples.csv").read_text().splitlines()[0]
    assert api.evaluate(tmp_path / "run", spec, kmeans=False)["items"] == 40


def test_your_own_backbone_module(items):
    mod = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    d = Disentangler(**TINY, backbone=mod)
    assert d.config.model.encoder.startswith("module:Sequential-")
    table = d.fit_transform(items)
    assert len(col(table, "split")) == 64
    again = d.transform(items[:4])  # the run loads back with the module
    # whatever the run's score, the teacher's part is the same for fitted and routed items
    assert np.array_equal(col(again, "cluster"), col(table, "cluster")[:4])
    assert np.allclose(col(again, "confidence"), col(table, "confidence")[:4], atol=2e-6)


def test_the_table_is_a_dict_of_columns_without_pandas(fitted, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    table = fitted.transform()
    assert isinstance(table, dict) and list(table) == list(COLUMNS)
    assert table["cluster"].dtype == np.int64 and table["confidence"].dtype == np.float64


def test_the_table_is_a_dataframe_with_pandas(fitted):
    pd = pytest.importorskip("pandas")
    assert isinstance(fitted.transform(), pd.DataFrame)


def test_config_forms_and_shortcuts():
    assert Disentangler(epochs=3).config.train.epochs == 3
    assert Disentangler(clusters=7, train={"seed": 5}).config.model.clusters == 7
    base = api.build_config("quick", overrides={"train": {"epochs": 9, "lr": 0.01}})
    cfg = Disentangler(base, epochs=4).config
    assert (cfg.train.epochs, cfg.train.lr) == (4, 0.01)
    assert Disentangler("paper").config.model.encoder == "resnet18"
    assert semready.Disentangler is Disentangler


@pytest.mark.parametrize("kwargs, words", [
    ({"epoch": 3}, "unknown setting"),
    ({"train": 3}, "takes a dict"),
    ({"epochs": 0}, "train.epochs"),
    ({"config": 42}, "Disentangler(config=...)"),
    ({"encoder": "torchvision:nope"}, "unknown backbone"),
])
def test_bad_settings_fail_at_construction_in_one_line(kwargs, words):
    with pytest.raises(SemreadyError) as exc:
        Disentangler(**kwargs)
    assert words in one_line(exc)


@pytest.mark.parametrize("data, words", [
    (np.zeros((4, 8, 8, 3), np.float32), "not uint8"),
    (np.zeros((4, 8, 8, 5), np.uint8), "no axis of 1, 3 or 4 channels"),
    (np.zeros((4, 8), np.uint8), "shape (4, 8)"),
    (np.zeros((0, 8, 8, 3), np.uint8), "no images"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 9, 3), np.uint8)], "same size"),
    ([torch.rand(3, 8, 8)], "not uint8"),
    ([], "empty"),
    (3.5, "is a float"),
])
def test_bad_input_is_one_line(data, words):
    d = Disentangler(**TINY)
    with pytest.raises(SemreadyError) as exc:
        d.fit(data)
    assert words in one_line(exc)
    assert d.run_dir is None


def test_transform_before_fit_and_bad_labels(items):
    with pytest.raises(SemreadyError) as exc:
        Disentangler().transform()
    assert "fit" in one_line(exc)
    with pytest.raises(SemreadyError) as exc:
        Disentangler(**TINY).fit(items[:8], labels=np.zeros(7, int))
    assert "one integer label per image" in one_line(exc)


def test_the_temporary_folder_goes_with_the_object(items):
    d = Disentangler(**TINY)
    work = d.workdir
    assert work.is_dir()
    del d
    import gc

    gc.collect()
    assert not work.exists()


def test_pil_items_follow_the_same_conversion_rule_as_image_files():
    """A transparent image through a Dataset gives the pixels folder: gives it (the rule in docs/data.md)."""
    from PIL import Image

    from semready.data.files import pil_to_array
    from semready.estimator import as_images

    clear = Image.new("LA", (4, 4), (0, 0))  # black, fully transparent
    got, _ = as_images([clear, clear.copy()])
    want = pil_to_array(clear)  # RGBA: its transparency kept for the RGB rule to composite
    assert got.shape == (2, *want.shape) and np.array_equal(got[0], want) and want.shape[-1] == 4
