"""The paths for large inputs, at small sizes (the switch-over sizes lowered by parameter):
IVF and IVF-PQ embedding search with exact re-check, bounded hash search, batched noise."""

from __future__ import annotations

import numpy as np
import pytest

from labelclean.dedupe import neighbors
from labelclean.noise import scoring


def _planted(n=6000, dim=64, groups=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    rows = rng.choice(n, size=2 * groups, replace=False).reshape(groups, 2)
    rows.sort(axis=1)
    x[rows[:, 1]] = x[rows[:, 0]] + 0.15 * rng.normal(size=(groups, dim))
    return x.astype(np.float16), {tuple(r) for r in rows.tolist()}


def _cosine(x, i, j):
    v = neighbors.l2_normalize(np.asarray(x))
    return (v[i] * v[j]).sum(axis=1)


@pytest.mark.parametrize("pq_limit", [1000, 10**9], ids=["ivf-pq", "ivf"])
def test_ivf_paths_find_planted_copies_with_exact_scores(tmp_path, pq_limit):
    x, truth = _planted()
    path = tmp_path / "embeddings.npy"
    np.save(path, x)
    memmap = np.load(path, mmap_mode="r")
    index = neighbors._build_index(memmap, 500, 16, 0, pq_limit=pq_limit)
    assert ("PQ" in type(index).__name__) == (pq_limit == 1000)
    pairs = neighbors.cosine_pairs(memmap, 0.9, exact_limit=500, pq_limit=pq_limit)
    assert truth <= set(zip(pairs.i.tolist(), pairs.j.tolist()))
    exact = _cosine(x, pairs.i, pairs.j)
    np.testing.assert_allclose(pairs.score, exact, atol=1e-5)  # re-checked, not PQ estimates
    assert (exact >= 0.9).all()


def test_pq_search_of_a_row_subset_gives_positions_in_it():
    x, truth = _planted()
    rows = np.arange(0, len(x), 2)
    keep = {(a, b) for a, b in truth if a % 2 == 0 and b % 2 == 0}
    pairs = neighbors.cosine_pairs(x, 0.9, rows=rows, exact_limit=500, pq_limit=1000)
    found = set(zip(rows[pairs.i].tolist(), rows[pairs.j].tolist()))
    assert keep and keep <= found
    assert (_cosine(x, rows[pairs.i], rows[pairs.j]) >= 0.9).all()


def _brute_hash_pairs(codes, radius, k):
    words = codes.view(np.uint64).ravel()
    dist = np.bitwise_count(words[:, None] ^ words[None, :]).astype(np.int64)
    out = {}
    for i in range(len(codes)):
        near = [j for j in np.lexsort((np.arange(len(codes)), dist[i]))
                if j != i and dist[i, j] <= radius][:k]
        for j in near:
            out[(min(i, j), max(i, j))] = float(dist[i, j])
    return out, dist


def test_hash_search_matches_brute_force_with_bounded_candidates(monkeypatch):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (900, 8), dtype=np.uint8)
    blank = np.zeros((300, 8), np.uint8)  # near-blank images: hashes 0-2 bits from zero
    flips = rng.integers(0, 64, (300, 2))
    for row, (a, b) in enumerate(flips[:200]):
        blank[row, a // 8] ^= 1 << (a % 8)
        blank[row, b // 8] ^= 1 << (b % 8)
    codes = np.concatenate([codes, blank, codes[:50] ^ np.uint8(1)])  # + 1-bit copies
    monkeypatch.setattr(neighbors, "HASH_BATCH", 64)
    radius, k = 6, 8
    expected, dist = _brute_hash_pairs(codes, radius, k)
    pairs = neighbors.hamming_pairs(codes, radius, max_neighbours=k)
    assert dict(zip(zip(pairs.i.tolist(), pairs.j.tolist()), pairs.score.tolist())) == expected
    sizes = [len(rows) for rows, _, _ in neighbors.hash_candidates(codes, radius, k)]
    assert max(sizes) <= 64 * k
    # a range search would hold every neighbour within the radius of a batch at once
    within = (dist <= radius).sum(axis=1)
    assert max(within[s:s + 64].sum() for s in range(0, len(codes), 64)) > 10 * 64 * k


def _oof(n=4000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    given = np.where(rng.random(n) < 0.15, (true + rng.integers(1, k, n)) % k, true)
    alpha = np.full((n, k), 0.4)
    alpha[np.arange(n), true] = 5.0
    probs = rng.gamma(alpha)
    return given, probs / probs.sum(axis=1, keepdims=True)


def test_batched_noise_scores_equal_the_in_memory_ones(tmp_path, monkeypatch):
    given, probs = _oof()
    np.save(tmp_path / "oof.npy", probs.astype(np.float32))
    memmap = np.load(tmp_path / "oof.npy", mmap_mode="r")
    monkeypatch.setattr("labelclean.noise.batched.BATCH", 700)  # several batches
    full = scoring.score_labels(given, np.asarray(memmap), filter_by="low_self_confidence",
                                n_jobs=1)
    part = scoring.score_labels(given, memmap, batched_limit=100, n_jobs=1)
    assert part.batched and not full.batched
    assert full.is_issue.sum() > 100
    np.testing.assert_array_equal(part.is_issue, full.is_issue)
    np.testing.assert_allclose(part.quality, full.quality)
    np.testing.assert_array_equal(part.confident_joint, full.confident_joint)
    np.testing.assert_allclose(part.noise_matrix, full.noise_matrix)
    np.testing.assert_allclose(part.noise_rate, full.noise_rate)


def test_noise_decisions_work_from_the_batched_scores(monkeypatch):
    import pandas as pd

    from labelclean.noise.stage import find_noise

    given, probs = _oof(n=1500)
    probs[:5] = np.nan  # unpredicted rows stay unscored
    index = pd.DataFrame({"image_id": [f"i{r}" for r in range(len(given))],
                          "path": [f"i{r}.png" for r in range(len(given))],
                          "label": given, "readable": True, "error": ""})
    full = find_noise(index, probs, [0, 1, 2, 3], filter_by="low_self_confidence")
    monkeypatch.setattr(scoring, "BATCHED_LIMIT", 100)
    part = find_noise(index, probs, [0, 1, 2, 3])
    assert part.parameters["batched"] and not full.parameters["batched"]
    assert any("batched finder" in w for w in part.warnings)
    pd.testing.assert_frame_equal(part.table, full.table)
