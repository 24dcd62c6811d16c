"""One action per labeled image: a precedence table over the stages' findings.

Every image has a set of findings, each an (N,) bool array named in :data:`FINDINGS`:

==================  ===========================================================================
finding             true when
==================  ===========================================================================
unreadable          the file cannot be decoded (``index.csv``)
duplicate_copy      the image is a redundant copy in its duplicate group (``keep`` false)
label_conflict      its duplicate group's labels conflict
group_confident     the group's OOF consensus (mean probabilities) reaches ``relabel_threshold``
consensus_is_given  the group's consensus class is this image's given label
label_issue         cleanlab flags the given label
best_is_given       the model's best class is the given label
best_confident      the best class has at least ``relabel_threshold``
low_confidence      not flagged, but ``label_quality`` is below ``review_threshold``
quality_drop        an image-quality finding (``quality.csv``) that ``[noise] drop`` lists
quality_review      any other image-quality finding (dark, blurry, outlier, ...)
leak_drop           a copy of another set's image (``leaks.csv``), with ``--drop-leaks``
large_group         a copy in a duplicate group that reached the size limit (not trusted)
leak_review         a copy of another set's image, without it
==================  ===========================================================================

The two quality findings are optional (absent: false for every image); each quality issue's
own name (:data:`QUALITY_REASONS`) is a finding too, for the ``reason`` column.

:data:`RULES` are tried in order and the first that matches decides (later rows only see
images no earlier row took):

==  ======================  =======  ==================================================  ====
#   rule                    action   matches                                             why
==  ======================  =======  ==================================================  ====
1   unreadable              drop     unreadable                                          (a)
1b  large_group             review   large_group                                         (i)
2   duplicate_copy          drop     duplicate_copy                                      (b)
2b  quality_drop            drop     quality_drop                                        (h)
2c  leak_drop               drop     leak_drop                                           (i)
2d  leak_review             review   leak_review                                         (i)
3   conflict_unresolved     review   label_conflict & ~group_confident                   (c)
4   conflict_relabel        relabel  label_conflict & group_confident                    (d)
                                     & ~consensus_is_given
5   conflict_keep           keep     label_conflict & group_confident                    (d)
                                     & consensus_is_given
6   issue_relabel           relabel  label_issue & ~best_is_given & best_confident       (e)
7   issue_model_agrees      review   label_issue & best_is_given                         (f)
8   issue_drop              drop     label_issue                                         (e)
9   low_confidence          review   low_confidence                                      (g)
9b  quality_review          review   quality_review                                      (h)
10  no_finding              keep     everything else
==  ======================  =======  ==================================================  ====

(a) A file that cannot be decoded cannot be trained on, whatever its label says; it has no
    scored prediction either, so no later finding is evidence about it.
(b) A redundant copy adds nothing once its group keeps one image; it is dropped whatever its
    label, and the kept copy carries the group's decision (rules 3-5).
(c) Copies of one image with different labels and no confident consensus need a person:
    fixing one member on its own prediction would leave the group disagreeing with itself,
    so this beats cleanlab's per-image verdict.
(d) A confident consensus over all copies is more evidence than one image's prediction: it
    relabels the members that disagree with it and keeps those that agree, even when
    cleanlab flagged them.
(e) A flagged label is relabelled when the model is confident in another class, else
    dropped: without a confident class there is no better label to give.
(f) A flag on a label the model still prefers comes from the class-level noise estimate, not
    from this image's prediction: a person decides, rather than dropping it.
(g) An unflagged label of low quality is worth a look but not an automatic change.
(h) An image-quality finding (too dark, blurry, an outlier, ...) says nothing about the
    label: it sends an image to review only when no label rule has decided (a relabel or
    a drop stands, a confident group consensus keeps), and drops it only when the project
    file asks (``[noise] drop = ["low_information"]``); its name is in ``reason`` either way.
(i) A training image that copies an image of another set (a test set) leaks it: a person
    decides (or ``dedupe --drop-leaks`` drops it) before any label rule, since a label
    verdict would keep the leak in the clean split. A duplicate group that reached its size
    limit is not trusted: its copies go to review rather than being dropped.

:func:`suggested_class` and :func:`label_rejected` give the two per-image values that go with
the action (the suggested label, and whether the decision rejects the given label);
:func:`reasons` lists every finding of an image, whichever rule decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from labelclean.io.qualityfile import QUALITY_ISSUES

FINDINGS = ("unreadable", "duplicate_copy", "label_conflict", "group_confident",
            "consensus_is_given", "label_issue", "best_is_given", "best_confident",
            "low_confidence")

#: Reason tokens, in the order a ``reason`` lists them; unreadable files get
#: ``unreadable:<why>`` (``empty_file``, ``truncated_image_data``, ``not_an_image``, ...).
#: The image-quality reasons (``quality.csv``'s issues), listed after the label reasons.
QUALITY_REASONS = QUALITY_ISSUES
REASONS = ("unreadable", "duplicate_copy", "large_group", "leak", "label_conflict",
           "label_issue", "low_confidence", *QUALITY_REASONS)

Findings = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Rule:
    """One row of the precedence table: ``action`` for the images ``when`` is true of."""

    name: str
    action: str
    when: Callable[[Findings], np.ndarray]
    why: str


def _always(f: Findings) -> np.ndarray:
    return np.ones(len(f["unreadable"]), dtype=bool)


def _optional(name: str) -> Callable[[Findings], np.ndarray]:
    """A finding that may be absent (then false for every image)."""
    return lambda f: f[name] if name in f else np.zeros(len(f["unreadable"]), dtype=bool)


RULES: tuple[Rule, ...] = (
    Rule("unreadable", "drop", lambda f: f["unreadable"],
         "an undecodable file cannot be trained on"),
    Rule("large_group", "review", _optional("large_group"),
         "a copy in a duplicate group too large to trust"),
    Rule("duplicate_copy", "drop", lambda f: f["duplicate_copy"],
         "a redundant copy; the kept copy carries the group's decision"),
    Rule("quality_drop", "drop", _optional("quality_drop"),
         "an image-quality finding the project file drops"),
    Rule("leak_drop", "drop", _optional("leak_drop"), "a copy of another set's image"),
    Rule("leak_review", "review", _optional("leak_review"), "a copy of another set's image"),
    Rule("conflict_unresolved", "review", lambda f: f["label_conflict"] & ~f["group_confident"],
         "copies disagree and no consensus is confident"),
    Rule("conflict_relabel", "relabel",
         lambda f: f["label_conflict"] & f["group_confident"] & ~f["consensus_is_given"],
         "a confident group consensus names another class"),
    Rule("conflict_keep", "keep",
         lambda f: f["label_conflict"] & f["group_confident"] & f["consensus_is_given"],
         "a confident group consensus agrees with the given label"),
    Rule("issue_relabel", "relabel",
         lambda f: f["label_issue"] & ~f["best_is_given"] & f["best_confident"],
         "a wrong label and a confident other class"),
    Rule("issue_model_agrees", "review", lambda f: f["label_issue"] & f["best_is_given"],
         "flagged, but the model still prefers the given label"),
    Rule("issue_drop", "drop", lambda f: f["label_issue"],
         "a wrong label and no confident class"),
    Rule("low_confidence", "review", lambda f: f["low_confidence"],
         "unflagged, but of low label quality"),
    Rule("quality_review", "review", _optional("quality_review"),
         "an image-quality finding (dark, blurry, outlier, ...)"),
    Rule("no_finding", "keep", _always, "nothing found"),
)


def first_rule(findings: Findings, rules: tuple[Rule, ...] = RULES) -> np.ndarray:
    """(N,) int: the position in ``rules`` of the first rule each image matches."""
    absent = [name for name in FINDINGS if name not in findings]
    if absent:
        raise KeyError(f"findings lack {', '.join(absent)}")
    matched = np.full(len(findings["unreadable"]), -1)
    for position, rule in enumerate(rules):
        hit = (matched < 0) & np.asarray(rule.when(findings), dtype=bool)
        matched[hit] = position
    if (matched < 0).any():
        raise ValueError("the rules must end with one that matches every image")
    return matched


def decide(findings: Findings, rules: tuple[Rule, ...] = RULES) -> np.ndarray:
    """(N,) object array of actions: each image gets the action of its first matching rule."""
    actions = np.asarray([rule.action for rule in rules], dtype=object)
    return actions[first_rule(findings, rules)]


def _group_overrides(f: Findings) -> np.ndarray:
    return f["label_conflict"] & f["group_confident"]


def suggested_class(findings: Findings, best: np.ndarray, consensus: np.ndarray) -> np.ndarray:
    """(N,) class indices: the group consensus where it relabels (rule 4), else the best class.

    This does not depend on the rule that won: a dropped copy of a relabelled group still
    suggests the consensus.
    """
    relabel = _group_overrides(findings) & ~findings["consensus_is_given"]
    return np.where(relabel, consensus, best)


def label_rejected(findings: Findings) -> np.ndarray:
    """(N,) bool: the decision rejects the given label (the confident group consensus
    disagrees with it, or, outside such groups, cleanlab flags it)."""
    return np.where(_group_overrides(findings), ~findings["consensus_is_given"],
                    findings["label_issue"])


def reasons(errors: pd.Series, findings: Findings) -> np.ndarray:
    """(N,) object array: each image's :data:`REASONS` tokens, ``;``-separated (``""`` when
    none); ``errors`` (N,) the scan's error text, which names an unreadable file's why."""
    why = (errors.astype(str).str.split(":").str[0].str.split("(").str[0].str.strip()
           .str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_"))
    why = np.where(why == "", "unknown", why)
    unreadable = np.char.add("unreadable:", why.astype(str)).astype(object)
    parts = [np.where(findings["unreadable"], unreadable, "")]
    parts += [np.where(findings[token], token, "") for token in REASONS[1:]
              if token in findings]
    joined = pd.Series(parts[0], dtype=object)
    for part in parts[1:]:
        joined = joined + np.where((joined != "") & (part != ""), ";", "") + part
    return joined.to_numpy(dtype=object)
