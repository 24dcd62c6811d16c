"""DivideMix's mechanisms on hand-made tensors, and its step on tiny generated images."""


import numpy as np
import pytest
import torch

from labelclean.errors import ConfigError
from labelclean.train import mixmatch as mm
from labelclean.train.dividemix import (
    DivideMixSettings,
    DivideMixStep,
    check_dividemix,
    clean_probability,
    labeled_mask,
)
from labelclean.train.loop import LogitSum, run_epochs
from tests.stepsetup import cpu_setup, resumed_run

SIZE = 8


def tiny_data(per_class=6, n_classes=3, seed=0):
    """uint8 images (N, 3, 8, 8) whose mean brightness encodes the class, and the labels."""
    gen = torch.Generator().manual_seed(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    base = torch.from_numpy(labels).float().view(-1, 1, 1, 1) * 80 + 20
    noise = torch.rand(len(labels), 3, SIZE, SIZE, generator=gen) * 40
    return (base + noise).clamp(0, 255).to(torch.uint8), labels


def make_step(images, labels, epochs=3, batch_size=8, seed=0, **settings):
    config, runtime = cpu_setup(SIZE, epochs, batch_size, seed)
    opts = DivideMixSettings(**{"warmup_epochs": 1, **settings})
    step = DivideMixStep(config, opts, images, labels, np.arange(len(labels)),
                         int(labels.max()) + 1, runtime)
    return step, config, runtime


# -- the co-divide ----------------------------------------------------------------------

def test_mixture_separates_planted_clean_and_noisy_losses():
    rng = np.random.default_rng(0)
    clean = rng.normal(0.2, 0.05, 80).clip(0)
    noisy = rng.normal(2.5, 0.4, 20)
    prob = clean_probability(np.concatenate([clean, noisy]))
    assert prob.shape == (100,)
    assert (prob[:80] > 0.5).mean() >= 0.95
    assert (prob[80:] < 0.5).mean() >= 0.95
    # the clean component is the smaller-mean one whichever order the data come in
    flipped = clean_probability(np.concatenate([noisy, clean]))
    assert (flipped[20:] > 0.5).all() and (flipped[:20] < 0.5).all()


def test_mixture_edge_cases_do_not_crash():
    assert clean_probability(np.array([])).shape == (0,)
    assert clean_probability(np.array([3.0])).tolist() == [1.0]
    assert clean_probability(np.full(5, 0.7)).tolist() == [1.0] * 5
    two = clean_probability(np.array([0.1, 5.0]))
    assert two[0] > two[1]


def test_labeled_mask_keeps_a_minimum():
    prob = np.array([0.1, 0.3, 0.2, 0.05])
    assert labeled_mask(prob, 0.5).tolist() == [False, True, True, False]
    assert labeled_mask(np.array([0.9, 0.2]), 0.5).tolist() == [True, True]
    assert labeled_mask(np.array([0.9, 0.8, 0.1]), 0.5).tolist() == [True, True, False]


def test_co_divide_hands_each_net_the_others_split():
    images, labels = tiny_data(per_class=8)
    step, _, _ = make_step(images, labels)
    n = len(labels)
    losses = np.full((2, n), 0.1) + np.linspace(0, 0.01, n)
    suspects_1, suspects_2 = np.arange(0, 4), np.arange(n - 4, n)
    losses[0, suspects_1] = 3.0  # net 1 thinks rows 0-3 are mislabeled
    losses[1, suspects_2] = 3.0  # net 2 thinks the last four are
    rows = step.co_divide(losses)
    assert set(rows) == set(range(n))  # every row is labeled for one net or the other
    # net 1 (index 0) trains on net 2's split, net 2 on net 1's
    assert not step.labeled[0][suspects_2].any() and step.labeled[0][suspects_1].all()
    assert not step.labeled[1][suspects_1].any() and step.labeled[1][suspects_2].all()
    assert sorted(step.pools[0]) == list(suspects_2)
    assert sorted(step.pools[1]) == list(suspects_1)
    np.testing.assert_array_equal(step.weight[0], step.clean[1])
    assert step.clean[0][suspects_1].max() < 0.5 < step.clean[0][suspects_2].min()

    seen = []

    def record(k, imgs, targets, w, unlabeled, t):
        seen.append((k, len(imgs), len(unlabeled)))
        return {"loss": torch.tensor(0.0)}

    step.train_net = record
    step.dividing, step.n_batches = True, 1
    batch_rows = np.array([0, 1, n - 1, 10])
    from labelclean.train.loop import Batch

    step(Batch(images=images[batch_rows], rows=batch_rows, epoch=1,
               targets=torch.from_numpy(labels[batch_rows])))
    # net 1 gets the rows net 2 kept (0, 1, 10), net 2 the rows net 1 kept (n-1, 10); each
    # with as many unlabeled images from its own pool
    assert seen == [(0, 3, 3), (1, 2, 2)]
    drawn = step.draw_unlabeled(0, 6)
    assert set(drawn) <= set(suspects_2) and len(drawn) == 6


# -- co-refinement, co-guessing, MixMatch, ramp-up, penalties ----------------------------

def test_co_refinement_and_sharpening_on_a_hand_made_batch():
    onehot = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = torch.tensor([0.5, 1.0])
    p1 = torch.tensor([[0.2, 0.8], [0.9, 0.1]])
    p2 = torch.tensor([[0.4, 0.6], [0.7, 0.3]])
    out = mm.refine_labels(onehot, w, p1, p2, temperature=0.5)
    # row 0: 0.5 * [1, 0] + 0.5 * [0.3, 0.7] = [0.65, 0.35]; squared and renormalised
    expected = torch.tensor([0.65**2, 0.35**2]) / (0.65**2 + 0.35**2)
    torch.testing.assert_close(out[0], expected)
    torch.testing.assert_close(out[1], torch.tensor([0.0, 1.0]))  # w = 1 keeps the label
    guessed = mm.co_guess([p1, p2, p1, p2], temperature=0.5)
    torch.testing.assert_close(guessed[0], torch.tensor([0.09, 0.49]) / 0.58)
    torch.testing.assert_close(mm.sharpen(torch.tensor([[0.5, 0.5]]), 0.1),
                               torch.tensor([[0.5, 0.5]]))


def test_mixmatch_takes_the_larger_weight():
    inputs = torch.tensor([[0.0], [10.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    perm = torch.tensor([1, 0])
    mixed, soft = mm.mixmatch(inputs, targets, 0.3, perm)  # uses 0.7
    torch.testing.assert_close(mixed, torch.tensor([[3.0], [7.0]]))
    torch.testing.assert_close(soft, torch.tensor([[0.7, 0.3], [0.3, 0.7]]))


def test_rampup_follows_its_schedule():
    assert mm.rampup(5.0, 10, 16, 25.0) == 0.0
    assert mm.rampup(10.0, 10, 16, 25.0) == 0.0
    assert mm.rampup(18.0, 10, 16, 25.0) == pytest.approx(12.5)
    assert mm.rampup(26.0, 10, 16, 25.0) == pytest.approx(25.0)
    assert mm.rampup(90.0, 10, 16, 25.0) == pytest.approx(25.0)
    assert mm.rampup(10.0, 10, 0, 25.0) == 25.0


def test_uniform_prior_penalty():
    assert float(mm.uniform_prior_penalty(torch.zeros(4, 3))) == pytest.approx(0.0, abs=1e-6)
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]]))
    mean = torch.tensor([0.6, 0.25, 0.15])
    expected = float((torch.log((1 / 3) / mean) / 3).sum())
    assert float(mm.uniform_prior_penalty(logits)) == pytest.approx(expected, rel=1e-5)
    assert expected > 0
    confident = mm.negative_entropy(torch.tensor([[20.0, 0.0]]))
    unsure = mm.negative_entropy(torch.tensor([[0.0, 0.0]]))
    assert float(unsure) == pytest.approx(-np.log(2), rel=1e-5) and float(confident) > -1e-6


# -- checks and edge cases --------------------------------------------------------------

def test_check_dividemix_rejects_too_few_images_per_class():
    labels = np.array([0] * 6 + [1] * 2)
    with pytest.raises(ConfigError, match="at least 4 training images of every class"):
        check_dividemix(labels, np.arange(8), 2, classes=["cat", "dog"])
    with pytest.raises(ConfigError, match="'dog'"):
        check_dividemix(labels, np.arange(8), 2, classes=["cat", "dog"])
    with pytest.raises(ConfigError, match="2 classes"):
        check_dividemix(np.zeros(8, int), np.arange(8), 1)
    check_dividemix(np.array([0] * 4 + [1] * 4), np.arange(8), 2)


def test_settings_are_checked():
    images, labels = tiny_data()
    with pytest.raises(ConfigError, match="`warmup_epochs`"):
        make_step(images, labels, epochs=2, warmup_epochs=2)
    with pytest.raises(ConfigError, match="`p_threshold`"):
        make_step(images, labels, p_threshold=1.5)
    # the default warm-up is a third of the run, at most 10 epochs
    assert [DivideMixSettings().warmup(n) for n in (1, 9, 30, 300)] == [0, 3, 10, 10]


def test_trains_on_tiny_data_with_single_image_batches():
    images, labels = tiny_data(per_class=4)  # 12 rows, batches of 5, 5, 2 and then 1s
    step, config, runtime = make_step(images, labels, epochs=3, batch_size=5)
    run_epochs(step, images, labels, np.arange(12), config, runtime.rng)
    metrics = step.epoch_metrics()
    assert 0 < metrics["labeled_fraction_net1"] <= 1
    assert 0 < metrics["labeled_fraction_net2"] <= 1
    # everything clean: empty unlabeled pools still train
    step.co_divide(np.zeros((2, 12)))
    assert len(step.pools[0]) == 0 and step.labeled[0].all()
    from labelclean.train.loop import Batch

    out = step(Batch(images=images[:1], rows=np.array([0]), epoch=2,
                     targets=torch.from_numpy(labels[:1])))
    assert out is not None and torch.isfinite(out["loss"])
    logits = step.model()(torch.zeros(2, 3, SIZE, SIZE))
    assert logits.shape == (2, 3)


def test_model_sums_both_nets():
    images, labels = tiny_data()
    step, _, _ = make_step(images, labels)
    x = torch.randn(4, 3, SIZE, SIZE)
    model = step.model()
    assert isinstance(model, LogitSum) and not model.training
    torch.testing.assert_close(model(x), step.nets[0].eval()(x) + step.nets[1].eval()(x))


def test_resume_gives_the_uninterrupted_weights():
    images, labels = tiny_data(per_class=6)
    full, fresh = resumed_run(
        lambda seed: make_step(images, labels, epochs=3, batch_size=6, seed=seed),
        (images, labels, np.arange(len(labels))), stop_after=2)
    for a, b in zip(full.model().state_dict().values(), fresh.model().state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert fresh.dividing  # the resumed epoch was a co-divide epoch
