"""The reference store (lotterylab.reference): manifests, refusals, and a re-run sample of every shipped reference."""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.many_seed import FitConfig
from lotterylab.reference import (
    CHAPTERS,
    MissingReference,
    StaleReference,
    ch02,
    ch07,
    chapter_module,
    load_manifest,
    reference_dir,
    run_reference,
    write_manifest,
)
from lotterylab.stability import StabilityConfig, StabilityRun

ROOT = Path(__file__).resolve().parents[1]
# Relative tolerance of a re-run sample on the same kind of device. On one machine the re-run is
# bit-for-bit; another CPU (other vector units) may round differently, which 50,000 steps can amplify.
RTOL = 0.02
# A reference made on a GPU and re-run on a CPU (no GPU in CI): other kernels, other rounding, so a looser bound.
XTOL = 0.10


def test_manifest_round_trip_and_refusals(tmp_path):
    (tmp_path / "a.pt").write_bytes(b"abc")
    m = write_manifest(tmp_path, chapter=7, title="t", config={"n": 1}, seeds=range(3), device="cpu", wall_seconds=60)
    assert load_manifest(tmp_path, chapter=7) == m
    assert m.seeds == [0, 1, 2] and m.torch == torch.__version__ and "manifest: reference/ch07" in m.describe()
    (tmp_path / "a.pt").write_bytes(b"abd")
    with pytest.raises(MissingReference, match="SHA-256 mismatch.*make reference CH=7"):
        load_manifest(tmp_path, chapter=7)
    (tmp_path / "a.pt").unlink()
    with pytest.raises(MissingReference, match="a.pt.*is missing"):
        load_manifest(tmp_path, chapter=7)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(MissingReference, match="damaged.*make reference CH=7"):
        load_manifest(tmp_path, chapter=7)
    with pytest.raises(MissingReference, match="no reference run.*make reference CH=3"):
        load_manifest(tmp_path / "nothing", chapter=3)


def test_bad_chapter_is_refused():
    with pytest.raises(LotteryLabError, match="chapter"):
        reference_dir("7")
    with pytest.raises(LotteryLabError, match="chapter=99 has no reference run; choose from"):
        chapter_module(99)


TINY = [dataclasses.replace(c, fit=FitConfig(steps=30, decay_every=10, n_points=16), n_seeds=3, compile=False)
        for c in ch07.sweep_configs()[:1]]


def test_ch07_reference_runs_loads_verifies_and_goes_stale(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTTERYLAB_REFERENCE", str(tmp_path))
    monkeypatch.setattr(ch07, "sweep_configs", lambda: [dataclasses.replace(c, widths=(1, 2)) for c in TINY])
    manifest = run_reference(7, device="cpu")
    assert manifest.device == "cpu" and manifest.command == "make reference CH=7" and len(manifest.files) == 4
    ref = ch07.load()
    assert sorted(ref.sweep.runs) == [("leaky_relu", 1), ("leaky_relu", 2), ("silu", 1), ("silu", 2)]
    check = ch07.verify(ref, n_seeds=2, seed=1)
    assert len(check.seeds) == 2 and check.max_rel_error == 0.0      # the same code on the same machine
    with pytest.raises(LotteryLabError, match="n_seeds"):
        ch07.verify(ref, n_seeds=0)
    with pytest.raises(LotteryLabError, match="reference must be a ScalingReference"):
        ch07.verify(ref.sweep)
    longer = [dataclasses.replace(c, widths=(1, 2), fit=dataclasses.replace(c.fit, steps=31)) for c in TINY]
    monkeypatch.setattr(ch07, "sweep_configs", lambda: longer)
    with pytest.raises(StaleReference, match="config.*make reference CH=7"):
        ch07.load()


def shipped_chapters() -> list[int]:
    """Chapters whose reference store holds a manifest (a finished reference run)."""
    return [c for c in sorted(CHAPTERS) if (reference_dir(c) / "manifest.json").exists()]


def test_every_chapter_that_shows_a_reference_has_one():
    for page in sorted((ROOT / "book").glob("[0-9][0-9]_*.md")):
        uses = {int(n) for n in re.findall(r"lotterylab\.reference(?:\.| import )ch(\d\d)", page.read_text())}
        for chapter in uses:
            assert chapter in shipped_chapters(), (f"{page.name} shows chapter {chapter}'s reference, but "
                                                   f"{reference_dir(chapter)} has no manifest")


def test_the_store_is_small():
    files = [p for p in (ROOT / "reference").rglob("*") if p.is_file()] if (ROOT / "reference").exists() else []
    assert sum(p.stat().st_size for p in files) < 20e6


@pytest.mark.parametrize("chapter", shipped_chapters())
def test_shipped_reference_is_reproduced(chapter):
    """Re-run a random sample of a shipped reference from its stored config and compare."""
    module = chapter_module(chapter)
    ref = module.load()                       # missing, damaged or stale files fail here, naming the command
    device = ref.manifest.device
    # A GPU-made reference is still checked without a GPU: re-run on the CPU, within the looser XTOL.
    rtol = RTOL
    if device == "cuda" and not torch.cuda.is_available():
        device, rtol = "cpu", XTOL
    seed = int(os.environ.get("LOTTERYLAB_VERIFY_SEED", int.from_bytes(os.urandom(2), "little")))
    check = module.verify(ref, seed=seed, device=device)
    assert np.all(np.isfinite(check.stored) == np.isfinite(check.recomputed)), check
    finite = np.isfinite(check.stored)
    assert check.max_rel_error <= rtol or np.allclose(check.recomputed[finite], check.stored[finite], rtol=rtol), (
        f"sample (LOTTERYLAB_VERIFY_SEED={seed}, {device}) not reproduced within {rtol:.0%}: {check}")


def test_ch01_reference_runs_loads_and_verifies(tmp_path, monkeypatch, mnist):
    from lotterylab.reference import ch01
    from lotterylab.training import TrainConfig

    monkeypatch.setenv("LOTTERYLAB_REFERENCE", str(tmp_path / "store"))
    monkeypatch.setenv("LOTTERYLAB_RESULTS", str(tmp_path / "results"))
    tiny = ch01.IMPConfig(rounds=2, train=TrainConfig(steps=20, eval_every=10))
    monkeypatch.setattr(ch01, "config", lambda: tiny)
    monkeypatch.setattr(ch01, "SEEDS", [0, 1])
    manifest = run_reference(1, device="cpu")
    assert manifest.seeds == [0, 1] and sorted(manifest.files) == ["imp_seed0.pt", "imp_seed1.pt"]
    ref = ch01.load()
    assert len(ref.records) == 2 * (1 + 2 * 3)
    assert ref.runs[0].mask(2).density == pytest.approx(0.8 ** 2, abs=0.01)
    check = ch01.verify(ref, seed=3)
    assert check.level in (1, 2) and check.max_rel_error == 0.0
    monkeypatch.setattr(ch01, "config", lambda: dataclasses.replace(tiny, rounds=3))
    with pytest.raises(StaleReference, match="config"):
        ch01.load()


# --- the reference run: wiring only (the real run takes minutes to tens of minutes) ---------------------
def test_ch02_reference_runs_the_full_preset_in_its_folder(tmp_path, monkeypatch):
    calls = {"run": []}
    fake_data = object()
    monkeypatch.setattr(ch02, "load_mnist_subset", lambda seed, device: fake_data)

    def fake_run(data, config, *, seed, device, checkpoint, progress):
        calls["run"].append((data, config, seed, checkpoint))
        run = StabilityRun(seed=seed, config=config)
        run.records = [{"kind": "dense", "rewind_step": k, "barrier": seed + k / 1000} for k in config.rewind_steps]
        return run

    def fake_control(model_fn, data, config, *, init_seeds, data_seeds, alphas, device, checkpoint, progress):
        calls["control"] = (model_fn, data, config, init_seeds, data_seeds, len(alphas), checkpoint)
        return "control"

    monkeypatch.setattr(ch02, "run_instability", fake_run)
    monkeypatch.setattr(ch02, "different_init_control", fake_control)
    folder = tmp_path / "ch02"
    ref = ch02.run(folder, seeds=(3, 5), device="cpu")
    full = StabilityConfig.for_preset("full")
    assert isinstance(ref, ch02.StabilityReference) and ref.config == full and ref.control == "control"
    assert calls["run"] == [(fake_data, full, s, folder / f"stability_full_seed{s}.pt") for s in (3, 5)]
    assert calls["control"] == (full.model_fn, fake_data, full.train, (3, 4), (4, 5), full.n_alphas,
                                folder / "control_full.pt")
    assert ref.barriers("dense") == {k: [3 + k / 1000, 5 + k / 1000] for k in full.rewind_steps}
    assert folder.is_dir()


def test_ch02_reference_bad_inputs(tmp_path):
    with pytest.raises(LotteryLabError, match="directory"):
        ch02.run(3)
    with pytest.raises(LotteryLabError, match="device"):
        ch02.run(tmp_path / "x", device="tpu")
    with pytest.raises(LotteryLabError, match="seeds"):
        ch02.run(tmp_path / "x", seeds=(1, 1))
    with pytest.raises(LotteryLabError, match="seeds"):
        ch02.run(tmp_path / "x", seeds=(-1,))
    assert not (tmp_path / "x").exists()   # nothing is created for a refused call


def test_ch02_reference_runs_loads_verifies_and_goes_stale(tmp_path, monkeypatch, mnist):
    from lotterylab.training import TrainConfig

    monkeypatch.setenv("LOTTERYLAB_REFERENCE", str(tmp_path / "store"))
    tiny = StabilityConfig(train=TrainConfig(steps=20, eval_every=10), rewind_steps=(0, 5), imp_rounds=1, n_alphas=5)
    monkeypatch.setattr(ch02, "config", lambda: tiny)
    monkeypatch.setattr(ch02, "SEEDS", [0, 1])
    manifest = run_reference(2, device="cpu")
    assert manifest.seeds == [0, 1] and manifest.wall_seconds > 0
    assert sorted(manifest.files) == ["control_full.pt", "stability_full_seed0.pt", "stability_full_seed1.pt"]
    ref = ch02.load()
    assert ref.manifest == manifest and ref.control.init_seeds == (0, 1)
    assert sorted(ref.barriers("ticket")) == [0, 5] and all(len(v) == 2 for v in ref.barriers("dense").values())
    check = ch02.verify(ref, seed=4)
    assert check.kind in ("dense", "ticket", "random") and check.max_rel_error == 0.0   # same code, same machine
    with pytest.raises(LotteryLabError, match="reference must be a StabilityReference"):
        ch02.verify(ref.runs)
    monkeypatch.setattr(ch02, "config", lambda: dataclasses.replace(tiny, imp_rounds=2))
    with pytest.raises(StaleReference, match="config.*make reference CH=2"):
        ch02.load()
