"""Failure clusters: the largest groups of failed cases that share what they were and how."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

#: How many clusters the report lists.
MAX_CLUSTERS = 5
# Input lengths in characters of the request's text, as buckets a reader can compare.
_LENGTH_BUCKETS = ((200, "<200"), (1_000, "200-1k"), (4_000, "1k-4k"), (16_000, "4k-16k"))
_LONGEST = ">16k"
# Groups are found from traits taken one and two at a time (then named by all they share).
_MAX_KEYS = 2


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
    traits: dict[str, set[tuple[str, str]]] = {}
    order: dict[str, list[tuple[str, str]]] = {}
    members: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for record in records:
        if record.get("outcome") != "failed":  # errors are infrastructure or test code
            continue
        nodeid = str(record.get("nodeid"))
        features = _features(record)
        traits[nodeid], order[nodeid] = set(features), features
        for size in range(1, _MAX_KEYS + 1):
            for combination in itertools.combinations(features, size):
                if len({dimension for dimension, _ in combination}) == size:
                    members.setdefault(combination, []).append(nodeid)
    groups = dict.fromkeys(tuple(ids) for ids in members.values() if len(ids) >= 2)
    clusters: list[Cluster] = []
    for ids in groups:
        shared = set.intersection(*(traits[nodeid] for nodeid in ids))
        by: dict[str, str] = {}
        for dimension, value in order[ids[0]]:
            if (dimension, value) in shared:
                by[dimension] = f"{by[dimension]},{value}" if dimension in by else value
        clusters.append(Cluster(by=by, cases=len(ids), nodeids=sorted(ids)))
    # Sorted throughout, so that the order records arrive in (xdist) changes nothing.
    clusters.sort(
        key=lambda cluster: (-cluster["cases"], -len(cluster["by"]), sorted(cluster["by"].items()))
    )
    return clusters[:limit]


def _features(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a case can share with others, as (dimension, value) pairs in a fixed order."""
    features: list[tuple[str, str]] = []
    for dimension in ("group", "category", "finish_reason"):
        value = record.get(dimension)
        if isinstance(value, str) and value:
            features.append((dimension, value))
    length = record.get("input_chars")
    if isinstance(length, int):
        features.append(("input_length", length_bucket(length)))
    tags = record.get("tags")
    if isinstance(tags, list):
        # A case with several tags offers each; "tag" sorts after the others in every pair.
        features.extend(("tag", tag) for tag in sorted({t for t in tags if isinstance(t, str)}))
    return features
