"""Shared pytest setup for the kvattn Python tests. The numpy tests need only
numpy, ml_dtypes and an installed kvattn; torch tests skip with a reason when
torch (or CUDA) is absent."""
import importlib.util

import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def pytest_report_header(config):
    try:
        import kvattn

        lines = [f"kvattn {kvattn.__version__} (CUDA backend built: {kvattn.built_with_cuda()})"]
    except ImportError as e:
        lines = [f"kvattn is not importable ({e}); install it first: python -m pip install ."]
    if HAVE_TORCH:
        import torch

        lines.append(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    else:
        lines.append("torch not installed: torch tests skip")
    return lines


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)
