"""Short-budget variants of the quick preset, scored on cifar10_test (for the 'what it would take' account).

python benchmarks/clustering_sweep.py MINUTES '{"name": {"section": {"key": value}}, ...}'
A variant may hold "_instance_only": true for the ablation. Prints one JSON line per variant: the cluster
head, k-means on backbone features (km_feat) and k-means on the projection embedding (km_z).
"""

import json
import sys
import tempfile
from pathlib import Path

import torch
from _common import SHARED_DATA as DATA

from benchmarks.clustering import instance_only
from semready.config import build_config
from semready.data import load_data
from semready.teacher.infer import TrainedRun
from semready.teacher.metrics import clustering_scores, kmeans_clusters
from semready.teacher.train import Trainer
from semready.teacher.views import prepare_eval


def main(minutes: float, variants: dict) -> None:
    train = load_data(f"npz:{DATA}/cifar10_train10k.npz")
    test = load_data(f"npz:{DATA}/cifar10_test.npz")
    for name, over in variants.items():
        ablate = over.pop("_instance_only", False)
        layered = {"train": {"max_minutes": minutes, "epochs": 10_000}}
        for section, values in over.items():
            layered.setdefault(section, {}).update(values)
        cfg = build_config("quick", overrides=layered)
        cfg = instance_only(cfg) if ablate else cfg
        with tempfile.TemporaryDirectory() as d:
            trainer = Trainer(cfg, train, Path(d), progress=False)
            trainer.fit()
        run = TrainedRun(Path("."), cfg, trainer.teacher.eval(), trainer.device, tuple(train.images.shape[1:]))
        a = run.assign_all(test.images, with_features=True)
        with torch.no_grad():
            z = torch.cat([trainer.teacher.embed(prepare_eval(test.images[i:i + 1000]))[1]
                           for i in range(0, len(test), 1000)]).numpy()
        res = {"head": clustering_scores(test.labels, a.clusters),
               "km_feat": clustering_scores(test.labels, kmeans_clusters(a.features, 10)),
               "km_z": clustering_scores(test.labels, kmeans_clusters(z, 10))}
        rounded = {k: {m: round(v, 3) for m, v in r.items()} for k, r in res.items()}
        print(name, json.dumps({**rounded, "epochs": trainer.epoch}), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]), json.loads(sys.argv[2]))
