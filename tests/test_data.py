"""Datasets: built-ins, image folders, arrays, and the errors bad data gets."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.config import DataConfig
from gankit.data import BatchSampler, load_data
from gankit.data.toy import grid25_centres, ring8_centres
from gankit.errors import GankitError


def test_ring8_has_8_distinct_centres_on_the_unit_circle():
    c = ring8_centres()
    assert c.shape == (8, 2)
    assert torch.allclose(c.norm(dim=1), torch.ones(8), atol=1e-6)
    assert torch.cdist(c, c).add(torch.eye(8) * 10).min() > 0.7  # neighbours are 2 sin(pi/8) = 0.765 apart
    angles = sorted(round(math.degrees(math.atan2(y, x))) % 360 for x, y in c.tolist())
    assert angles == [0, 45, 90, 135, 180, 225, 270, 315]


def test_toy_sets_follow_the_protocol():
    ring = load_data(DataConfig("ring8"))
    assert ring.x.shape[1] == 2 and ring.info["std"] == 0.01
    dist = torch.cdist(ring.x[:2000], ring8_centres()).min(dim=1).values
    assert dist.std() < 0.02 and dist.max() < 0.06  # tight blobs, std 0.01
    grid = load_data(DataConfig("grid25"))
    assert grid.info["std"] == 0.05
    assert sorted({tuple(c) for c in grid25_centres().tolist()}) == [
        (float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)
    ]
    assert torch.bincount(grid.labels, minlength=25).min() > 3000  # every mode is populated


def test_bundled_image_sets():
    mnist = load_data(DataConfig("mnist"))
    assert mnist.x.shape == (5000, 1, 28, 28)
    assert mnist.x.min() == -1 and mnist.x.max() == 1
    assert torch.bincount(mnist.labels).tolist() == [500] * 10
    assert load_data(DataConfig("mnist", resolution=32)).x.shape == (5000, 1, 32, 32)
    digits = load_data(DataConfig("digits"))
    assert digits.x.shape == (1797, 1, 8, 8) and digits.num_classes == 10


def test_stacked_mnist_composes_three_digits():
    data = load_data(DataConfig("stacked-mnist"))
    assert data.shape == (3, 28, 28) and data.num_classes == 1000
    x, y = data.batch(torch.arange(5))
    assert x.shape == (5, 3, 28, 28)
    t = data.triples[:5]
    assert torch.equal(x[:, 1], data.digits[t[:, 1], 0])
    d = data.digit_labels[t]
    assert torch.equal(y, d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2])
    assert len(torch.unique(data.labels)) == 1000


def test_batch_sampler_covers_each_epoch_and_resumes():
    s = BatchSampler(10, 3, seed=1)
    first_epoch = torch.cat([s.next() for _ in range(3)])
    assert len(set(first_epoch.tolist())) == 9  # the last partial batch is dropped, no repeats
    state = s.state_dict()
    ahead = [s.next() for _ in range(4)]
    s2 = BatchSampler(10, 3, seed=1)
    s2.load_state_dict(state)
    assert all(torch.equal(a, s2.next()) for a in ahead)
    shards = [BatchSampler(10, 5, seed=1, rank=r, world=2).next() for r in range(2)]
    assert set(shards[0].tolist()).isdisjoint(shards[1].tolist())


def test_rank_shards_make_up_the_single_process_batch():
    """2 ranks at batch B draw, in order, what 1 process draws at 2B; the position is global."""
    one = BatchSampler(100, 8, seed=3)
    two = [BatchSampler(100, 4, seed=3, rank=r, world=2) for r in range(2)]
    for _ in range(30):  # crosses epochs
        assert torch.equal(one.next(), torch.cat([s.next() for s in two]))
    assert one.state_dict() == two[0].state_dict() == two[1].state_dict()


def make_folder(root, classes=("cat", "dog"), n=3, size=(20, 12), mode="RGB"):
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            arr = np.full((size[1], size[0], 3), 40 * k + i, dtype=np.uint8)
            Image.fromarray(arr).convert(mode).save(root / name / f"{i}.png")
    return root


def test_image_folder_with_class_subfolders(tmp_path):
    root = make_folder(tmp_path / "imgs")
    data = load_data(DataConfig(str(root), resolution=8))
    assert data.x.shape == (6, 3, 8, 8) and data.num_classes == 2
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.info["class_names"] == ["cat", "dog"]
    gray = load_data(DataConfig(str(root), resolution=8, channels=1))
    assert gray.x.shape == (6, 1, 8, 8)
    native = load_data(DataConfig(str(root)))  # no resolution: centre-crop to the short side
    assert native.x.shape == (6, 3, 12, 12)


def test_unreadable_images_are_skipped_by_name_and_the_good_ones_kept(tmp_path, caplog):
    root = make_folder(tmp_path / "imgs")
    (root / "cat" / "0-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)  # first, too
    (root / "dog" / "empty.png").write_bytes(b"")
    with caplog.at_level("WARNING"):
        data = load_data(DataConfig(str(root), resolution=8))
    assert data.x.shape == (6, 3, 8, 8) and data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert [s.split(" ")[0] for s in data.info["skipped"]] == ["cat/0-broken.png", "dog/empty.png"]
    assert "skipped 2 unreadable images of 8: cat/0-broken.png" in caplog.text
    run = gankit.train(data=str(root), model="dcgan", steps=2, out=tmp_path / "r",
                       overrides=["data.resolution=8", "model.width=4", "train.batch_size=4"])  # fmt: skip
    assert (run.run_dir / "skipped.txt").read_text().splitlines()[0].startswith("cat/0-broken.png")


def test_a_folder_of_only_unreadable_images_is_one_error(tmp_path):
    (tmp_path / "bad").mkdir()
    for i in range(3):
        (tmp_path / "bad" / f"{i}.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(GankitError, match="none of the 3 images") as info:
        load_data(DataConfig(str(tmp_path / "bad"), resolution=8))
    assert "0.png" in str(info.value)


def test_empty_folder_and_missing_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match="no images found"):
        load_data(DataConfig(str(tmp_path / "empty")))
    with pytest.raises(GankitError, match="not found"):
        load_data(DataConfig(str(tmp_path / "missing.npy")))


def test_arrays(tmp_path):
    np.save(tmp_path / "pts.npy", np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32))
    pts = load_data(DataConfig(str(tmp_path / "pts.npy")))
    assert pts.kind == "points" and pts.shape == (3,)
    imgs = np.random.default_rng(0).integers(0, 256, size=(10, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "imgs.npz", x=imgs, y=np.arange(10) % 2)
    data = load_data(DataConfig(str(tmp_path / "imgs.npz")))
    assert data.shape == (3, 16, 16) and data.num_classes == 2
    assert data.x.min() >= -1 and data.x.max() <= 1


@pytest.mark.parametrize(
    "array,message",
    [
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.zeros((4, 5, 6, 7, 8)), "neither points nor images"),
        (np.zeros((4, 5, 8, 8)), "channels"),
        (np.array(["a", "b"]), "not numeric"),
    ],
)
def test_bad_arrays(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(GankitError, match=message):
        load_data(DataConfig(str(tmp_path / "bad.npy")))
