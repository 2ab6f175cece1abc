"""EagerAdam: torch's fused Adam without the compiler import, bit for bit."""

from __future__ import annotations

import subprocess
import sys

import torch
from torch import nn

from gankit.training.adam import EagerAdam


def _train(opt_cls, steps: int = 5, **kwargs) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    opt = opt_cls(net.parameters(), lr=2e-3, betas=(0.5, 0.9), **kwargs)
    for i in range(steps):
        x = torch.randn(32, 6, generator=torch.Generator().manual_seed(i))
        opt.zero_grad(set_to_none=True)
        net(x).pow(2).mean().backward()
        opt.step()
    return net, opt


def test_eager_adam_equals_torch_fused_adam_bit_for_bit():
    for decay in (0.0, 1e-6):
        ours, ours_opt = _train(EagerAdam, weight_decay=decay)
        ref, ref_opt = _train(torch.optim.Adam, fused=True, weight_decay=decay)
        for a, b in zip(ours.state_dict().values(), ref.state_dict().values(), strict=True):
            assert torch.equal(a, b)
        assert str(ours_opt.state_dict()) == str(ref_opt.state_dict())


def test_eager_adam_state_moves_to_and_from_torch_adam():
    net, opt = _train(EagerAdam, steps=3)
    torch_opt = torch.optim.Adam(net.parameters(), lr=2e-3, betas=(0.5, 0.9), fused=True)
    torch_opt.load_state_dict(opt.state_dict())
    back = EagerAdam(net.parameters(), lr=1.0)
    back.load_state_dict(torch_opt.state_dict())
    assert back.param_groups[0]["lr"] == 2e-3
    assert torch.equal(back.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_eager_adam_hands_what_it_was_not_built_for_to_torch():
    ours, _ = _train(EagerAdam, amsgrad=True)
    ref, _ = _train(torch.optim.Adam, fused=True, amsgrad=True)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), ref.parameters(), strict=True))


def test_a_cpu_table_fit_never_imports_the_compiler(tmp_path):
    code = (
        "import sys; from gankit.tabular import TabularGAN; from gankit.tabular.datasets import load_table;"
        "df, d, _ = load_table('iris'); TabularGAN(epochs=2).fit(df, d).sample(5);"
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
