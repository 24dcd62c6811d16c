"""Duplicate groups without chaining: a keeper and copies each confirmed against it.

Union-find joins A and C when A~B and B~C, even when A is not a copy of C: on overlapping
photos (one plant photographed from a few steps apart) that chains distinct pictures into
one huge group. Here a group is a *star*:

* images are taken in keep order (largest pixel area, then largest file, then first row);
  an image not yet in a group, with confirmed copies not yet in a group, becomes a keeper;
* its copies join in order of their score, each only if it is also not rejected against
  every copy already in the group (a confirmed pair, the same pixels, or a fresh
  verification of the two), so every two members of a group are copies of each other;
* a group stops growing at :data:`LARGE_GROUP` members and is flagged for review;
* every confirmed pair whose two images end in different groups (or one in none) is kept
  as *related* (``related.csv``), never silently dropped.

Time and memory are linear in the confirmed pairs plus the checks of the pairs of each
image's confirmed copies (verified in one batch; at most ``2 * LARGE_GROUP`` copies an image).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: A group that reaches this many members stops growing and is flagged for review.
LARGE_GROUP = 50


@dataclass
class Stars:
    """``labels`` (N,) group per row (-1 = none, groups 0.. in keep order); ``keepers``
    (G,) each group's keeper; ``large`` (G,) bool flagged; ``related`` (M,) bool per input
    pair: confirmed but not inside one group."""

    labels: np.ndarray
    keepers: np.ndarray
    large: np.ndarray
    related: np.ndarray


def _adjacency(n: int, i: np.ndarray, j: np.ndarray):
    ends = np.concatenate([i, j])
    others = np.concatenate([j, i])
    edge = np.concatenate([np.arange(len(i)), np.arange(len(i))])
    order = np.argsort(ends, kind="stable")
    starts = np.searchsorted(ends[order], np.arange(n + 1))
    return starts, others[order], edge[order]


def star_groups(n: int, i: np.ndarray, j: np.ndarray, score: np.ndarray, priority: np.ndarray,
                twin: np.ndarray, check: Callable[[np.ndarray, np.ndarray], np.ndarray],
                large: int = LARGE_GROUP) -> Stars:
    """Groups from confirmed pairs ``(i[k], j[k])`` (scores ``score``, higher is more alike).

    ``priority`` (N,) keep order (lower is kept first); ``twin`` (M,) pairs of the same
    bytes or pixels (compatible with whatever the other is compatible with); ``check(a, b)``
    verifies extra pairs, returning an (L,) bool mask.
    """
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    starts, others, edges = _adjacency(n, i, j)
    known = set(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist()))
    labels = np.full(n, -1, np.int64)
    keepers, flagged = [], []
    verdict = _batch_checks(n, starts, others, edges, score, priority, twin, known, check,
                            large)
    for u in np.argsort(priority, kind="stable"):
        if labels[u] >= 0 or starts[u] == starts[u + 1]:
            continue
        nb, ed = _ordered_neighbours(u, starts, others, edges, score, priority)
        free = labels[nb] < 0
        if not free.any():
            continue
        nb, ed = nb[free], ed[free]
        members = _grow(u, nb, twin[ed], known, verdict, large)
        if len(members) < 2:
            continue
        labels[members] = len(keepers)
        keepers.append(int(u))
        flagged.append(len(members) >= large)
    _attach_twins(labels, i[twin], j[twin])
    related = (labels[i] < 0) | (labels[j] < 0) | (labels[i] != labels[j])
    return Stars(labels, np.array(keepers, np.int64), np.array(flagged, bool), related)


def _attach_twins(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Give the images of the same bytes or pixels as a member that member's group."""
    for _ in range(4):
        la, lb = labels[a], labels[b]
        to_b, to_a = (la >= 0) & (lb < 0), (lb >= 0) & (la < 0)
        if not (to_a.any() or to_b.any()):
            return
        labels[b[to_b]] = la[to_b]
        labels[a[to_a]] = lb[to_a]


def _ordered_neighbours(u, starts, others, edges, score, priority):
    nb, ed = others[starts[u]:starts[u + 1]], edges[starts[u]:starts[u + 1]]
    order = np.lexsort((priority[nb], -score[ed]))
    return nb[order], ed[order]


def _batch_checks(n, starts, others, edges, score, priority, twin, known, check, large):
    """Verify, in one call, every pair two copies of one possible keeper would need: its
    confirmed neighbours (the first ``2 * large``) that are not confirmed with each other."""
    loose: set[tuple[int, int]] = set()
    for u in range(n):
        if starts[u + 1] - starts[u] < 2:
            continue
        nb, ed = _ordered_neighbours(u, starts, others, edges, score, priority)
        keep = [int(v) for v, e in zip(nb[: large * 2], ed[: large * 2]) if not twin[e]]
        for x, a in enumerate(keep):
            for b in keep[x + 1:]:
                key = (min(a, b), max(a, b))
                if key not in known:
                    loose.add(key)
    if not loose:
        return {}
    a, b = np.array(sorted(loose), np.int64).T
    return {(int(x), int(y)): bool(ok) for x, y, ok in zip(a, b, check(a, b))}


def _grow(u: int, candidates: np.ndarray, twins: np.ndarray, known: set,
          verdict: dict, large: int) -> list[int]:
    """The keeper ``u`` and the candidates that agree with every copy before them."""
    members, copies = [int(u)], []
    for x, v in enumerate(candidates[: large * 2].tolist()):
        if len(members) >= large:
            break
        if twins[x] or all(_agree(m, v, known, verdict) for m in copies):
            members.append(v)
            if not twins[x]:
                copies.append(v)
    return members


def _agree(m: int, v: int, known: set, verdict: dict) -> bool:
    key = (min(m, v), max(m, v))
    return key in known or verdict.get(key, False)
