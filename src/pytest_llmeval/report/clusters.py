"""Failure clusters: the largest groups of failed cases that share what they were and how."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

#: How many clusters the report lists.
MAX_CLUSTERS = 5
# Input lengths in characters of the request's text, as buckets a reader can compare.
_LENGTH_BUCKETS = ((200, "<200"), (1_000, "200-1k"), (4_000, "1k-4k"), (16_000, "4k-16k"))
_LONGEST = ">16k"
# Groups named and ranked per cluster listed: ties in size are broken among these.
_CANDIDATES_PER_CLUSTER = 8


class Cluster(TypedDict):
    """One entry of the report's `clusters`."""

    by: dict[str, str]
    cases: int
    nodeids: list[str]


def length_bucket(characters: int) -> str:
    """The input-length bucket of a request of `characters` characters of text."""
    for limit, name in _LENGTH_BUCKETS:
        if characters < limit:
            return name
    return _LONGEST


def failure_clusters(
    records: Iterable[Mapping[str, Any]], limit: int = MAX_CLUSTERS
) -> list[Cluster]:
    """The largest groups of failed cases (model failures) sharing group, category, finish reason,
    input-length bucket or dataset tags; largest first.

    Groups are found from every single trait and every pair of traits; a group of cases
    is listed once, by everything its cases all share, and only when at least two cases
    share it. Ties go to the group that shares more. Node ids are listed sorted.
    """
    # Compact on purpose (a report may hold 100,000 cases): one copy of each trait, case
    # numbers in arrays of C integers, a group's identity as the bytes of its array.
    nodeids: list[str] = []
    traits: list[tuple[tuple[str, str], ...]] = []
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    members: dict[tuple[tuple[str, str], ...], array[int]] = {}
    for record in records:
        if record.get("outcome") != "failed":  # errors are infrastructure or test code
            continue
        index = len(nodeids)
        nodeids.append(str(record.get("nodeid")))
        features = tuple(seen.setdefault(trait, trait) for trait in _features(record))
        traits.append(features)
        for position, first in enumerate(features):
            members.setdefault((first,), array("I")).append(index)
            for second in features[position + 1 :]:
                if first[0] != second[0]:
                    members.setdefault((first, second), array("I")).append(index)
    groups: dict[bytes, tuple[tuple[str, str], ...]] = {}
    for key, cases in members.items():
        if len(cases) >= 2:
            groups.setdefault(cases.tobytes(), key)
    # Only the largest few groups can make the list; ties in size are broken among them.
    ranked = sorted(groups, key=len, reverse=True)[: limit * _CANDIDATES_PER_CLUSTER]
    clusters: list[Cluster] = []
    for identity in ranked:
        key = groups[identity]
        ids = members[key]
        shared = _shared(key, ids, traits, members)
        by: dict[str, str] = {}
        for dimension, value in traits[ids[0]]:
            if (dimension, value) in shared:
                by[dimension] = f"{by[dimension]},{value}" if dimension in by else value
        named = sorted(nodeids[index] for index in ids)
        clusters.append(Cluster(by=by, cases=len(ids), nodeids=named))
    # Sorted throughout, so that the order records arrive in (xdist) changes nothing.
    clusters.sort(
        key=lambda cluster: (-cluster["cases"], -len(cluster["by"]), sorted(cluster["by"].items()))
    )
    return clusters[:limit]


def _shared(
    key: tuple[tuple[str, str], ...],
    ids: array[int],
    traits: list[tuple[tuple[str, str], ...]],
    members: dict[tuple[tuple[str, str], ...], array[int]],
) -> set[tuple[str, str]]:
    """The traits every case of a group (found by `key`) has.

    A trait paired with a one-trait key is shared exactly when the pair has as many cases as
    the group (the pair's cases are among the key's); anything else is checked case by case,
    after the pair counts have ruled most traits out.
    """
    shared = set(key)
    size = len(ids)
    for trait in traits[ids[0]]:
        if trait in shared:
            continue
        counts = [
            len(members.get(_pair(known, trait), ())) for known in key if known[0] != trait[0]
        ]
        if any(count < size for count in counts):
            continue
        exact = len(key) == 1 and len(counts) == 1
        if exact or all(trait in traits[index] for index in ids):
            shared.add(trait)
    return shared


def _pair(one: tuple[str, str], other: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """The members key of two traits: in the order `_features` lists their dimensions."""
    return (one, other) if _RANK[one[0]] < _RANK[other[0]] else (other, one)


_RANK = {"group": 0, "category": 1, "finish_reason": 2, "input_length": 3, "tag": 4}


def _features(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a case can share with others, as (dimension, value) pairs in a fixed order."""
    features: list[tuple[str, str]] = []
    for dimension in ("group", "category", "finish_reason"):
        value = record.get(dimension)
        # Most replies end with "stop": a cluster by it says nothing the failure does not.
        if isinstance(value, str) and value and (dimension, value) != ("finish_reason", "stop"):
            features.append((dimension, value))
    length = record.get("input_chars")
    if isinstance(length, int):
        features.append(("input_length", length_bucket(length)))
    tags = record.get("tags")
    if isinstance(tags, list):
        # A case with several tags offers each; "tag" sorts after the others in every pair.
        features.extend(("tag", tag) for tag in sorted({t for t in tags if isinstance(t, str)}))
    return features
