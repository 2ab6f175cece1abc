"""DP-SGD for the critic (Abadi et al. 2016), with Opacus' RDP accountant for the noise and the ε spent.

Each step draws real rows by Poisson sampling (rate q = batch / rows), reads each row's condition off
the row itself (no data-dependent training-by-sampling), and takes *per-row* gradients of the whole
WGAN-GP term of that row — the real score, the score of a fake made for the row's condition, and the
gradient penalty at their interpolate — clips each to ``max_grad_norm``, sums, adds Gaussian noise and
divides by the expected batch. The generator only ever sees the critic, so it inherits the guarantee.

Per-row gradients come from ``torch.func`` rather than Opacus' hooks because the gradient penalty is a
double backward, which the hooks cannot differentiate per sample; Opacus calibrates the noise
multiplier for the target (ε, δ) and accounts what was spent.

What is *not* covered: the transformer's fitted metadata (category sets and counts, mixture modes,
column ranges) is computed from the data without noise, as in DP-CTGAN and smartnoise's DPCTGAN.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import functional_call, grad, vmap

from gankit.errors import GankitError


class DPCritic:
    """The critic phase's step under DP-SGD (:class:`gankit.tabular.game.TableGame`): it fills the
    critic's ``.grad`` with clipped, noised per-row gradients; the loop steps the optimiser. The
    accountant's history is the objective's state, saved in checkpoints."""

    def __init__(
        self, game, epsilon: float, delta: float, max_grad_norm: float, batch_size: int, total_steps: int,
        gp_weight: float,
    ):  # fmt: skip
        try:
            from opacus.accountants import RDPAccountant
            from opacus.accountants.utils import get_noise_multiplier
        except ImportError:  # pragma: no cover
            raise GankitError("differential privacy needs opacus", "pip install 'gankit[tabular]'") from None
        self.game, self.epsilon, self.delta, self.clip = game, epsilon, delta, max_grad_norm
        n = len(game.data)
        self.q = min(1.0, batch_size / n)
        self.total_steps = total_steps
        self.sigma = get_noise_multiplier(
            target_epsilon=epsilon, target_delta=delta, sample_rate=self.q, steps=self.total_steps,
            accountant="rdp",
        )  # fmt: skip
        self.accountant = RDPAccountant()
        self.steps = 0
        D = game.ctx.plain["D"]
        self.names = [k for k, p in D.named_parameters() if p.requires_grad]

        def row_loss(params, x_real: Tensor, x_fake: Tensor, alpha: Tensor) -> Tensor:
            def d(x):
                return functional_call(D, params, (x.unsqueeze(0),)).squeeze()

            x_hat = torch.lerp(x_real, x_fake, alpha)
            gx = grad(d)(x_hat)
            gp = (gx.norm(2) - 1.0) ** 2
            return d(x_fake) - d(x_real) + gp_weight * gp

        self._per_row_grads = vmap(grad(row_loss), in_dims=(None, 0, 0, 0), randomness="different")

    def step(self) -> None:
        g = self.game
        D, G, dev = g.ctx.plain["D"], g.ctx.plain["G"], g.device
        take = torch.rand(len(g.data), device=dev) < self.q  # Poisson sampling
        real = g.data[take]
        if len(real):
            if g.sampler.n_columns:
                cond, _, _ = g.sampler.rows_cond(real)
            else:
                cond = torch.zeros(len(real), 0, device=dev)
            G.eval()  # batch-norm statistics must not record conditions read off private rows
            with torch.no_grad():
                _, fake = g.fake(cond, G)
            G.train()
            x_real, x_fake = torch.cat([real, cond], 1), torch.cat([fake, cond], 1)
            alpha = torch.rand(len(real), 1, device=dev)
            params = {k: p.detach() for k, p in D.named_parameters()}
            grads = self._per_row_grads(params, x_real, x_fake, alpha)  # name -> (B, *shape)
            norms = torch.sqrt(sum(grads[k].reshape(len(real), -1).pow(2).sum(1) for k in self.names))
            scale = (self.clip / (norms + 1e-6)).clamp(max=1.0)
        expected = self.q * len(g.data)
        for k, p in D.named_parameters():
            total = torch.einsum("b,b...->...", scale, grads[k]) if len(real) else torch.zeros_like(p)
            noise = torch.randn_like(p) * self.sigma * self.clip
            p.grad = (total + noise) / expected
        self.accountant.step(noise_multiplier=self.sigma, sample_rate=self.q)
        self.steps += 1
        g.stats.report("dp_rows", torch.tensor(float(len(real)), device=dev))

    def state_dict(self) -> dict:
        return {"history": [list(h) for h in self.accountant.history], "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.accountant.history = [tuple(h) for h in state["history"]]
        self.steps = int(state["steps"])

    def epsilon_spent(self) -> float:
        return float(self.accountant.get_epsilon(self.delta)) if self.steps else 0.0
