"""Keep the binarynet tests on one thread: the machine's cores are shared."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)
