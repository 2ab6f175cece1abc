import os

import pytest
import torch

# Keep the suite lean on a 2-core machine and independent of the user's cache.
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    os.environ.setdefault("GANKIT_CACHE", str(tmp_path_factory.mktemp("gankit-cache")))
    yield
