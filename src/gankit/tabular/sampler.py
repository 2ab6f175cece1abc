"""Training-by-sampling (Xu et al. 2019): the conditional vector over the discrete columns.

Each step picks a discrete column uniformly, a category of it with probability proportional to the
log of its frequency (so rare categories are seen), and a real row holding that category; the
generator gets the same one-hot as its condition and is penalised when its output disagrees.
Everything lives in tensors on the training device, so a step never leaves it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gankit.tabular.transformer import DataTransformer


class CondSampler:
    """Conditional vectors and the real rows that match them."""

    def __init__(self, transformer: DataTransformer, matrix: np.ndarray | None, device: torch.device):
        self.device = device
        self.columns: list[str] = []
        self.cond_offsets: list[int] = []  # where each discrete column starts in the cond vector
        self.data_offsets: list[int] = []  # ... and in the transformed row
        self.sizes: list[int] = []
        cond, data = 0, 0
        for c in transformer.columns:
            if c.discrete:
                self.columns.append(c.name)
                self.cond_offsets.append(cond)
                self.data_offsets.append(data)
                self.sizes.append(len(c.categories))
                cond += len(c.categories)
            data += c.width
        self.dim = cond
        self.n_columns = len(self.columns)
        if not self.n_columns:
            return
        # per column: log-frequency for training, frequency for plain sampling; padded to one table
        self.log_p = torch.zeros(self.n_columns, max(self.sizes), device=device)
        self.p = torch.zeros(self.n_columns, max(self.sizes), device=device)
        for i, c in enumerate(c for c in transformer.columns if c.discrete):
            n = torch.tensor(c.counts, dtype=torch.float64)
            self.log_p[i, : len(n)] = (torch.log1p(n) / torch.log1p(n).sum()).float()
            self.p[i, : len(n)] = (n / n.sum()).float()
        if matrix is not None:
            self._index_rows(matrix)

    def _index_rows(self, matrix: np.ndarray) -> None:
        """Row ids grouped by (column, category): rows of category j of column i are
        ``order[starts[k] : starts[k] + counts[k]]`` with ``k = cond_offsets[i] + j``."""
        counts, order = [], []
        for off, size in zip(self.data_offsets, self.sizes, strict=True):
            codes = matrix[:, off : off + size].argmax(1)
            for j in range(size):
                rows = np.flatnonzero(codes == j)
                counts.append(len(rows))
                order.append(rows)
        counts_t = torch.tensor(counts, dtype=torch.float64)
        self.counts = counts_t.float().to(self.device)  # float32: MPS has no float64
        self.starts = (torch.cumsum(counts_t, 0) - counts_t).long().to(self.device)
        self.order = torch.from_numpy(np.concatenate(order)).long().to(self.device)

    def train_cond(self, n: int, g: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(cond (n, dim), column index (n,), category index (n,)) drawn by log-frequency."""
        col = torch.randint(self.n_columns, (n,), device=self.device, generator=g)
        cat = torch.multinomial(self.log_p[col], 1, generator=g).squeeze(1)
        return self.one_hot(col, cat), col, cat

    def sample_cond(self, n: int, g: torch.Generator | None = None) -> Tensor:
        """Conditions for unconditional sampling: categories at their real frequencies."""
        col = torch.randint(self.n_columns, (n,), device=self.device, generator=g)
        cat = torch.multinomial(self.p[col], 1, generator=g).squeeze(1)
        return self.one_hot(col, cat)

    def uniform_cond(self, n: int, g: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Conditions that read nothing from the data (categories uniform): for DP training."""
        sizes = torch.tensor(self.sizes, device=self.device)
        col = torch.randint(self.n_columns, (n,), device=self.device, generator=g)
        cat = (torch.rand(n, device=self.device, generator=g) * sizes[col]).long()
        return self.one_hot(col, cat), col, cat

    def one_hot(self, col: Tensor, cat: Tensor) -> Tensor:
        offsets = torch.tensor(self.cond_offsets, device=self.device)
        cond = torch.zeros(len(col), self.dim, device=self.device)
        cond[torch.arange(len(col), device=self.device), offsets[col] + cat] = 1.0
        return cond

    def real_rows(self, col: Tensor, cat: Tensor, g: torch.Generator | None = None) -> Tensor:
        """One random real row id per (column, category)."""
        k = torch.tensor(self.cond_offsets, device=self.device)[col] + cat
        u = torch.rand(len(k), device=self.device, generator=g)
        pick = (u * self.counts[k]).long().clamp_max((self.counts[k] - 1).clamp_min(0).long())
        return self.order[self.starts[k] + pick]

    def rows_cond(self, data: Tensor, g: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Conditions read off given real rows (a random discrete column each): DP training."""
        n = len(data)
        col = torch.randint(self.n_columns, (n,), device=self.device, generator=g)
        cat = torch.zeros(n, dtype=torch.long, device=self.device)
        for i, (off, size) in enumerate(zip(self.data_offsets, self.sizes, strict=True)):
            here = col == i
            cat[here] = data[here, off : off + size].argmax(1)
        return self.one_hot(col, cat), col, cat
