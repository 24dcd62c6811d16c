"""FixMatch's views, pseudo-label mask, EMA and step on tiny generated images; `gather`."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from labelclean.errors import ConfigError
from labelclean.models.inputs import ImageRows
from labelclean.train.augment import get_augmentation
from labelclean.train.fixmatch import (
    FixMatchSettings,
    FixMatchStep,
    check_fixmatch,
    masked_pseudo_label_loss,
)
from labelclean.train.images import gather
from labelclean.train.loop import Batch, run_epochs
from labelclean.train.strong import StrongView, cutout, pad_crop, weak_view
from tests.stepsetup import cpu_setup, resumed_run

SIZE = 16


def tiny_store(n_labeled=12, n_unlabeled=10, seed=0):
    """uint8 images (N, 3, 16, 16), labels (-1 on the unlabeled rows), the two row sets."""
    gen = torch.Generator().manual_seed(seed)
    n = n_labeled + n_unlabeled
    images = (torch.rand(n, 3, SIZE, SIZE, generator=gen) * 255).to(torch.uint8)
    labels = np.arange(n) % 3
    labels[n_labeled:] = -1
    return images, labels, np.arange(n_labeled), np.arange(n_labeled, n)


def make_step(store, epochs=2, batch_size=4, seed=0, **settings):
    images, labels, train, unlabeled = store
    config, runtime = cpu_setup(SIZE, epochs, batch_size, seed)
    step = FixMatchStep(config, FixMatchSettings(**{"mu": 2, **settings}), images, labels,
                        train, unlabeled, 3, runtime)
    return step, config, runtime


def test_pseudo_labels_under_the_threshold_are_masked():
    weak = torch.tensor([[10.0, 0.0, 0.0], [0.2, 0.1, 0.0], [0.0, 0.0, 9.0]])
    strong = torch.tensor([[0.0, 2.0, 0.0], [5.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    loss, mask = masked_pseudo_label_loss(weak, strong, threshold=0.95)
    assert mask.tolist() == [1.0, 0.0, 1.0]
    ce = torch.nn.functional.cross_entropy(strong, torch.tensor([0, 0, 2]), reduction="none")
    assert float(loss) == pytest.approx(float((ce[0] + ce[2]) / 3))


def test_strong_view_differs_from_weak_and_is_seeded():
    images = tiny_store()[0][:6]
    flips = get_augmentation("flips")
    x = images.float() / 255
    weak = weak_view(x, torch.Generator().manual_seed(1), flips)
    strong_view = StrongView(flips)
    state = random.getstate()
    strong = strong_view(images, torch.Generator().manual_seed(1))
    assert random.getstate() == state  # the global generators are put back
    assert strong.shape == weak.shape == x.shape
    assert 0 <= float(strong.min()) and float(strong.max()) <= 1
    assert (strong - weak).abs().mean() > 0.05
    again = strong_view(images, torch.Generator().manual_seed(1))
    torch.testing.assert_close(strong, again)
    other = strong_view(images, torch.Generator().manual_seed(2))
    assert not torch.equal(strong, other)


def test_cutout_fills_one_square_and_pad_crop_shifts():
    x = torch.ones(5, 3, 16, 16)
    out = cutout(x, 0.5, torch.Generator().manual_seed(0))
    filled = (out[:, 0] == 0.5).sum(dim=(1, 2))
    assert (filled > 0).all() and (filled <= 64).all()
    assert ((out == 0.5) | (out == 1)).all()
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(4, 3, 16, 16).contiguous()
    crops = pad_crop(ramp, 2, torch.Generator().manual_seed(0))
    assert crops.shape == ramp.shape
    shifts = crops[:, 0, 0, 8] - 8  # column 8 moves by the horizontal offset in [-2, 2]
    assert shifts.abs().max() <= 2 and not (shifts == 0).all()


def test_ema_updates_towards_the_net():
    store = tiny_store()
    step, config, runtime = make_step(store, ema_decay=0.5, ema_warmup=False)
    images, labels = store[0], store[1]
    start = [p.clone() for p in step.ema.module.parameters()]

    def one_batch(rows):
        step(Batch(images=images[rows], rows=rows, epoch=0,
                   targets=torch.from_numpy(labels[rows])))

    step.begin_epoch(0)
    one_batch(np.arange(4))  # the first update copies the net (timm: decay 0 at step 1)
    after_one = [p.clone() for p in step.net.parameters()]
    for e, n in zip(step.ema.module.parameters(), after_one):
        torch.testing.assert_close(e, n)
    one_batch(np.arange(4, 8))
    changed = False
    for e, n1, n2, s in zip(step.ema.module.parameters(), after_one, step.net.parameters(),
                            start):
        torch.testing.assert_close(e, 0.5 * n1 + 0.5 * n2)
        changed |= not torch.equal(e, s)
    assert changed
    assert step.model() is step.ema.module and not step.model().training


def test_unlabeled_rows_are_drawn_mu_per_labeled_image():
    store = tiny_store(n_unlabeled=10)
    step, _, _ = make_step(store, mu=3)
    first = step.draw_unlabeled(6)
    second = step.draw_unlabeled(6)
    assert set(first) | set(second) <= set(store[3])
    assert len(set(np.concatenate([first, second[:4]]))) == 10  # one pass before repeats


def test_threshold_decides_the_mask_rate():
    store = tiny_store()
    for threshold, expected in ((1e-6, 1.0), (1.0, 0.0)):
        step, config, runtime = make_step(store, epochs=1, threshold=threshold)
        run_epochs(step, store[0], store[1], store[2], config, runtime.rng)
        assert step.epoch_metrics()["mask_rate"] == expected


def test_check_fixmatch():
    with pytest.raises(ConfigError, match="needs unlabeled images"):
        check_fixmatch(np.arange(4), np.array([], dtype=int))
    with pytest.raises(ConfigError, match="both labeled and unlabeled"):
        check_fixmatch(np.arange(4), np.arange(3, 6))
    with pytest.raises(ConfigError, match="`threshold`"):
        make_step(tiny_store(), threshold=0)


def test_resume_gives_the_uninterrupted_weights():
    store = tiny_store()
    images, labels, train, _ = store
    full, fresh = resumed_run(lambda seed: make_step(store, epochs=3, seed=seed),
                              (images, labels, train), stop_after=1, fresh_seed=7)
    for a, b in zip(full.model().state_dict().values(), fresh.model().state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(full.net.state_dict().values(), fresh.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_gather_reads_either_store(tmp_path):
    images = tiny_store()[0][:4]
    paths = []
    for i, img in enumerate(images):
        path = tmp_path / f"{i}.png"
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)
        paths.append(str(path))
    rows = np.array([3, 0, 3])
    torch.testing.assert_close(gather(images, rows), images[[3, 0, 3]])
    from_files = gather(ImageRows(paths, SIZE), rows)
    torch.testing.assert_close(from_files, images[[3, 0, 3]])
    with_reasons = gather(ImageRows(paths, SIZE, blank=(3, SIZE, SIZE)), rows)
    torch.testing.assert_close(with_reasons, images[[3, 0, 3]])
    assert gather(ImageRows(paths, SIZE), np.array([], dtype=int)).shape == (0, 3, SIZE, SIZE)
