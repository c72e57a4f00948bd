"""The languages are built on the language items alone and the sent items are the others: rebuilding each saved
language from the complement of the items simulate sent gives it back bitwise (so no sent item leaked into a
language, and none was left out); disentangled's is built on the learnable ones among them. Also, end to end,
samples.csv ranks the most learnable item first."""

import numpy as np
import torch
import torch.nn.functional as F

from semready import api
from semready.comm.language import SemanticLanguage
from semready.data import load_data
from semready.rundir import RunDir


def test_sent_items_are_exactly_the_items_no_language_was_built_on(tmp_path):
    x = load_data("sample").images[:120]
    small = F.interpolate(x.float(), size=16, mode="area").round().byte()
    npz = tmp_path / "small.npz"
    np.savez(npz, x=small.permute(0, 2, 3, 1).numpy())
    over = {"data": {"spec": f"npz:{npz}"}, "model": {"width": 8, "embed_dim": 16, "clusters": 3},
            "bank": {"size": 96, "min_negatives": 8}, "rank": {"score": "paper"},
            "train": {"epochs": 2, "batch_size": 32, "warmup_epochs": 1, "threads": 1},
            "comm": {"prequential_chunks": 2, "gamma_samples": 2}}
    run = tmp_path / "run"
    api.train(run, api.build_config("quick", overrides=over), progress=False)
    api.split(run, policy="budget", value=0.25)
    files = RunDir(run)
    samples = files.read_samples()
    rows = files.read_sample_rows()
    learn = np.array([float(r["learnability"]) for r in rows])
    assert int(rows[int(np.argmax(learn))]["rank"]) == 1  # rank 1 = the most learnable item

    kpis = api.simulate(run, schemes=["vanilla", "disentangled"])
    items = files.read_kpi_item_rows()
    n = len(samples["cluster"])
    for scheme, on_learnable in (("vanilla", False), ("disentangled", True)):
        sent = [int(r["index"]) for r in items if r["scheme"] == scheme]
        assert len(sent) == len(set(sent)) == kpis["settings"]["items_sent"]
        language_items = np.setdiff1d(np.arange(n), sent)
        assert len(language_items) == kpis["settings"]["language_items"] and len(language_items) > 0
        if on_learnable:
            language_items = language_items[samples["learnable"][language_items]]
        rebuilt = SemanticLanguage.build(small[language_items], samples["cluster"][language_items], 3,
                                         kpis["settings"]["fidelity_psnr_db"],
                                         built_on="learnable" if on_learnable else "all")
        saved = SemanticLanguage.load(files.language(scheme))
        assert saved.n_items == len(language_items)
        for name in ("means", "basis", "log_scales", "logits", "counts"):
            assert torch.equal(getattr(rebuilt, name), getattr(saved, name)), (scheme, name)
