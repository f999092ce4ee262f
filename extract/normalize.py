"""Deterministic clean-up of model output: canonical actor names, done in code, not by the model."""

from __future__ import annotations

from extract.gold import Aliases
from extract.schema import ACTOR_FIELDS, Event


def canonicalize(event: Event, aliases: Aliases) -> Event:
    """Rewrite actor names (and the location's country) to their canonical form."""
    update: dict[str, object] = {}
    for name in ACTOR_FIELDS & set(type(event).model_fields):
        value = getattr(event, name)
        if isinstance(value, str):
            update[name] = aliases.canonical(value)
        elif isinstance(value, list):
            update[name] = [aliases.canonical(v) for v in value]
    if event.location is not None:
        update["location"] = event.location.model_copy(
            update={"country": aliases.canonical(event.location.country)}
        )
    return event.model_copy(update=update)
