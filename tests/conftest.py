import pytest
import torch


@pytest.fixture(autouse=True)
def _cpu_threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def mnist():
    from lotterylab.data import load_mnist_subset

    return load_mnist_subset()
