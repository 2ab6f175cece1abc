import os

import pytest
import torch

# Keep the suite lean on a 2-core machine and independent of the user's cache. Under pytest-xdist
# (pyproject's addopts: one worker per core) each worker gets its share of the cores, and the
# commands tests start inherit it through OMP_NUM_THREADS: two workers on two threads each
# oversubscribe the cores, and torch's thread barriers then cost 10-100x on small ops.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_threads = max(1, min(2, torch.get_num_threads() // _workers))
torch.set_num_threads(_threads)
if _workers > 1:
    os.environ["OMP_NUM_THREADS"] = str(_threads)


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    os.environ.setdefault("GANKIT_CACHE", str(tmp_path_factory.mktemp("gankit-cache")))
    yield
