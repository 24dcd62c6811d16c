"""Duplicate groups without chaining: a keeper and copies each confirmed against it.

Union-find joins A and C when A~B and B~C, even when A is not a copy of C: on overlapping
photos (one plant photographed from a few steps apart) that chains distinct pictures into
one huge group. Here a group is a *star*:

* images are taken in keep order (largest pixel area, then largest file, then first row);
  an image not yet in a group, with confirmed copies not yet in a group, becomes a keeper;
* its copies join in order of their score (most alike first; the dedupe stage passes a
  likeness on one scale for every kind of confirmation), each only if it is also not
  rejected against every copy already in the group (a confirmed pair, the same pixels,
  or a fresh verification of the two), so every two members of a group are copies of
  each other;
* a copy then moves to an image in no group that it is more alike to than to any member
  of its group (the two form a group of their own; a group left with its keeper alone is
  undone): a keeper taken early, an overlapping picture within the tolerance, no longer
  leaves a copy's original alone;
* a group stops growing at :data:`LARGE_GROUP` members and is flagged for review;
* every confirmed pair whose two images end in different groups (or one in none) is kept
  as *related* (``related.csv``), never silently dropped.

Time and memory are linear in the confirmed pairs plus the checks a group's growth asks
for: the pairs of each keeper's candidates (its first ``2 * LARGE_GROUP`` confirmed
neighbours not yet in a group), verified a wave of keepers at a time, never the pairs of
images that never become keepers.
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
    verifies extra pairs, returning an (L,) bool mask. Only the pairs a group's growth
    asks about are checked, a wave of keepers at a time (:data:`WAVE` pairs at most, plus
    one keeper's).
    """
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    graph = (*_adjacency(n, i, j), score, priority, twin)
    known = set(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist()))
    labels = np.full(n, -1, np.int64)
    keepers, flagged = [], []
    verdict: dict[tuple[int, int], bool] = {}
    order = [int(u) for u in np.argsort(priority, kind="stable")
             if graph[0][u] < graph[0][u + 1]]
    done = 0
    while done < len(order):
        wave = _wave(order, done, labels, graph, known, verdict, large)
        _check_into(verdict, wave[1], check)
        for u in order[done:wave[0]]:
            free = _free_candidates(u, labels, graph, large)
            if free is None:
                continue
            _check_into(verdict, _loose_pairs(free, known, verdict), check)  # moved up
            members = _grow(u, *free, known, verdict, large)
            if len(members) < 2:
                continue
            labels[members] = len(keepers)
            keepers.append(int(u))
            flagged.append(len(members) >= large)
        done = wave[0]
    _rehome(labels, keepers, flagged, (i, j, score, twin), priority)
    labels, keepers, flagged = _compact(labels, keepers, flagged)
    _attach_twins(labels, i[twin], j[twin])
    related = (labels[i] < 0) | (labels[j] < 0) | (labels[i] != labels[j])
    return Stars(labels, keepers, flagged, related)


def _rehome(labels: np.ndarray, keepers: list, flagged: list, pairs: tuple,
            priority: np.ndarray) -> None:
    """Move copies to the images in no group they are more alike to than to any member of
    their own group (by the confirmed pairs' scores), most alike pairs first, in place:
    each such pair becomes a group of its own (the one kept first by ``priority`` its
    keeper). ``pairs`` is ``(i, j, score, twin)``; twins are left where they are (they
    join their twin's group at the end)."""
    i, j, score, twin = pairs
    alike = {(min(a, b), max(a, b)): s for a, b, s in zip(i.tolist(), j.tolist(),
                                                          np.asarray(score).tolist())}
    is_keeper = np.zeros(len(labels), bool)
    is_keeper[keepers] = True
    closest = np.full(len(labels), -np.inf)  # each copy's likeness to its nearest member
    for (a, b), value in alike.items():
        if labels[a] >= 0 and labels[a] == labels[b]:
            closest[a], closest[b] = max(closest[a], value), max(closest[b], value)
    for k in np.argsort(-np.asarray(score, np.float64), kind="stable"):
        if twin[k]:
            continue
        for w, v in ((int(i[k]), int(j[k])), (int(j[k]), int(i[k]))):
            if labels[w] >= 0 or labels[v] < 0 or is_keeper[v]:
                continue
            if score[k] > closest[v]:
                keep = w if priority[w] <= priority[v] else v
                labels[[w, v]] = len(keepers)
                keepers.append(keep)
                flagged.append(False)
                is_keeper[keep] = True
                closest[[w, v]] = score[k]  # a less alike pair later cannot move it again
                break


def _compact(labels: np.ndarray, keepers: list, flagged: list
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(labels, keepers, flagged)`` with the groups left with one member undone and the
    rest numbered 0.. in their keepers' order of creation."""
    sizes = np.bincount(labels[labels >= 0], minlength=len(keepers))
    alive = sizes >= 2
    new = np.full(len(keepers) + 1, -1, np.int64)  # the last entry maps "no group" (-1)
    new[:-1][alive] = np.arange(int(alive.sum()))
    return (new[labels], np.array(keepers, np.int64)[alive],
            np.array(flagged, bool)[alive])


#: Star-check pairs gathered before one call of ``check`` (bounded memory), and the
#: fewest worth a call before a keeper another may take ends the wave (each call costs
#: as much as some 100 pairs).
WAVE = 512
WAVE_START = 128


def _wave(order, done, labels, graph, known, verdict, large):
    """``(end, pairs)``: the keepers ``order[done:end]`` and the pairs of their free
    candidates not yet verified: at least one keeper's, then more until :data:`WAVE`
    pairs or a keeper that is a candidate of an earlier one of the wave (that one may take
    it: it starts the next wave, with the groups up to date). A keeper whose candidates
    move up (more than ``2 * large`` free) gets the rest checked at its turn."""
    pending: set[tuple[int, int]] = set()
    claimed: set[int] = set()
    end = done
    while end < len(order) and (end == done or len(pending) < WAVE):
        if order[end] in claimed and len(pending) >= WAVE_START:
            break
        free = _free_candidates(order[end], labels, graph, large)
        end += 1
        if free is not None:
            pending |= _loose_pairs(free, known, verdict)
            claimed.update(free[0].tolist())
    return end, pending


def _free_candidates(u, labels, graph, large):
    """``(candidates, twins)`` of keeper ``u``: its first ``2 * large`` confirmed neighbours
    not in a group, best first, and whether each is a twin; None when ``u`` is in a group
    or has none."""
    starts, others, edges, score, priority, twin = graph
    if labels[u] >= 0:
        return None
    nb, ed = _ordered_neighbours(u, starts, others, edges, score, priority)
    free = labels[nb] < 0
    if not free.any():
        return None
    return nb[free][: large * 2], twin[ed[free][: large * 2]]


def _loose_pairs(free, known, verdict) -> set[tuple[int, int]]:
    """Pairs of non-twin candidates neither confirmed nor verified yet."""
    keep = [int(v) for v, t in zip(*free) if not t]
    return {(min(a, b), max(a, b)) for x, a in enumerate(keep) for b in keep[x + 1:]
            if (min(a, b), max(a, b)) not in known and (min(a, b), max(a, b)) not in verdict}


def _check_into(verdict: dict, pairs: set, check) -> None:
    if pairs:
        a, b = np.array(sorted(pairs), np.int64).T
        verdict.update(zip(zip(a.tolist(), b.tolist()), np.asarray(check(a, b), bool).tolist()))


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


def _grow(u: int, candidates: np.ndarray, twins: np.ndarray, known: set,
          verdict: dict, large: int) -> list[int]:
    """The keeper ``u`` and the candidates that agree with every copy before them."""
    members, copies = [int(u)], []
    for x, v in enumerate(candidates.tolist()):
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
