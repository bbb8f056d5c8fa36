"""The first check of a run: which models it names, and the one line for an id not served."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

#: The fixtures whose use makes a role's model part of the run. The model under test is
#: asked by `llm` and `llm_reply`; the judge and the moderation model only by their fixture.
ROLE_FIXTURES: Mapping[str, frozenset[str]] = {
    "model": frozenset({"llm", "llm_reply"}),
    "judge": frozenset({"llm_judge"}),
    "moderation": frozenset({"llm_moderation"}),
}


def roles_in_use(fixture_names: Iterable[Iterable[str]]) -> list[str]:
    """The roles ("model", "judge", "moderation") whose fixtures some collected eval case
    uses, in that order: a suite that never judges has no judge model to check."""
    wanted = set(ROLE_FIXTURES)
    used: set[str] = set()
    for names in fixture_names:
        present = set(names)
        used.update(role for role in wanted - used if ROLE_FIXTURES[role] & present)
        if used == wanted:
            break
    return [role for role in ROLE_FIXTURES if role in used]


def closest_ids(model_id: str, served: Iterable[str], count: int = 3) -> list[str]:
    """The served ids closest to `model_id` (difflib's ratio), closest first."""
    import difflib  # only for a mistake: not worth loading for every session

    choices = sorted({name for name in served if isinstance(name, str) and name})
    return difflib.get_close_matches(model_id, choices, n=count, cutoff=0.6)


def unknown_model_line(
    option: str, model_id: str, server: str, served: Sequence[str] | None
) -> str:
    """The one line of a run stopped because `server` does not serve `model_id`.

    `served` is the server's model list (`GET /v1/models`), or None when it could not be
    read; the closest ids in it are named, so a typo is fixed without looking anything up.
    """
    line = f"{option}={model_id}: {server} does not serve this model (its card is a 404)"
    if served is None:
        return line + "; no case was run"
    close = closest_ids(model_id, served)
    if close:
        return line + f"; did you mean {' or '.join(close)}? no case was run"
    return line + f"; none of its {len(set(served))} models is close; no case was run"
