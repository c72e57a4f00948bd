"""Shared fixtures: a tiny real-image dataset and a tiny config, so end-to-end tests take seconds on a CPU."""

from pathlib import Path

import numpy as np
import pytest

from semready.config import build_config
from semready.data import load_data


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    """120 real CIFAR-10 images (the embedded sample), saved as an npz data source."""
    sample = load_data("sample")
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    x = sample.images[:120].permute(0, 2, 3, 1).numpy()
    np.savez(path, x=x, y=sample.labels[:120])
    return path


def tiny_overrides(npz: Path, **train) -> dict:
    return {
        "data": {"spec": f"npz:{npz}"},
        "model": {"width": 8, "embed_dim": 16, "clusters": 3},
        "bank": {"size": 96, "min_negatives": 8},
        "train": {"epochs": 3, "batch_size": 32, "warmup_epochs": 1, "threads": 1, **train},
    }


@pytest.fixture
def tiny_cfg(tiny_npz):
    return build_config("quick", overrides=tiny_overrides(tiny_npz))


def train_tiny(run: Path, npz: Path, epochs: int = 2, score: str = "paper", clusters: int = 3) -> Path:
    """A tiny trained run in ``run`` (the paper score fits no regen language, so it is the quicker one)."""
    from semready import api

    over = tiny_overrides(npz, epochs=epochs)
    over["rank"] = {"score": score}
    over["model"]["clusters"] = clusters
    api.train(run, build_config("quick", overrides=over), progress=False)
    return run
