"""Broker messages turned into validated observation rows, and the errors of the bad ones.

A message body is one `ObservationInput` object (GraphQL field names, as a line of bulk NDJSON) or a JSON
array of them, optionally with `externalId` (a string naming the observation at its source). The rules are
the mutation's: the shape checks of `atlas4d.bulk.parse.add_object`, then
`atlas4d.core.ingest.validate_observations`. A message is stored whole or not at all; a bad one is set aside
with its error (for the dead-letter topic) while the rest of the batch is stored.

Idempotency key of each observation: (source, external id, time), where the external id is `externalId`
when given, else `entityId` (one entity is in one place at a time), else a digest of the object's other fields.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from atlas4d.bulk.parse import add_object, new_chunk
from atlas4d.core.ingest import EntityKinds, ObservationItem, validate_observations
from atlas4d.errors import InvalidItem

EXTERNAL_ID = "externalId"
MAX_EXTERNAL_ID = 512


@dataclass(frozen=True)
class MessageError:
    """Why a message was not stored: the mutation's code and message, the item and field it concerns."""

    code: str
    message: str
    index: int | None = None
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "index": self.index, "field": self.field}


@dataclass
class ValidBatch:
    """The good messages of a batch as COPY rows (in message order), each row's idempotency key, the
    entities the rows name, and per message index either its row span or its error."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[str, datetime]] = field(default_factory=list)
    entities: EntityKinds = field(default_factory=dict)
    errors: dict[int, MessageError] = field(default_factory=dict)


def _external_id(obj: dict[str, Any], raw: bytes) -> tuple[str | None, str | None]:
    """(the key's external id, an error) of one decoded object; `externalId` is removed from `obj`."""
    given = obj.pop(EXTERNAL_ID, None)
    if given is not None:
        if not isinstance(given, str) or not given or len(given) > MAX_EXTERNAL_ID or "\x00" in given:
            return None, f"must be a non-empty string of at most {MAX_EXTERNAL_ID} characters"
        return given, None
    entity = obj.get("entityId")
    if isinstance(entity, str):
        try:
            return "entity:" + str(uuid.UUID(entity)), None
        except ValueError:
            return None, None  # validate_observations reports it
    return "sha1:" + hashlib.sha1(raw, usedforsecurity=False).hexdigest(), None


def _item_error(index: int, name: str | None, message: str) -> MessageError:
    """Worded as the mutation words it (`observations[i].field: …`), `i` counted inside the message."""
    where = f"observations[{index}]" + (f".{name}" if name else "")
    return MessageError(InvalidItem.code, f"{where}: {message}", index, name)


def _objects(body: bytes) -> tuple[list[tuple[dict[str, Any], bytes]], MessageError | None]:
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return [], MessageError(InvalidItem.code, f"is not valid JSON: {exc}")
    values = decoded if isinstance(decoded, list) else [decoded]
    if not values:
        return [], MessageError(InvalidItem.code, "is an empty list")
    out = []
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            return [], MessageError(InvalidItem.code, "is not a JSON object", index=i)
        # the digest leaves the time out: it is the key's other half, compared as an instant
        rest = {k: v for k, v in value.items() if k != "time"}
        out.append((value, orjson.dumps(rest, option=orjson.OPT_SORT_KEYS)))
    return out, None


def validate_messages(bodies: Sequence[bytes]) -> ValidBatch:
    """Validate every message of a batch; see the module docstring for the rules and the keys."""
    batch = ValidBatch()
    chunk = new_chunk()
    owners: list[tuple[int, int]] = []  # per item: (message index, index inside the message)
    ids: list[str] = []
    for m, body in enumerate(bodies):
        objects, error = _objects(body)
        if error is not None:
            batch.errors[m] = error
            continue
        start = len(chunk.items)
        for i, (obj, raw) in enumerate(objects):
            external, problem = _external_id(obj, raw)
            if problem is not None:
                batch.errors[m] = _item_error(i, EXTERNAL_ID, problem)
                break
            before = len(chunk.errors)
            add_object(chunk, obj, m)
            if len(chunk.errors) > before:
                e = chunk.errors[-1]
                batch.errors[m] = _item_error(i, e.field, e.message)
                break
            owners.append((m, i))
            ids.append(external or "")
        if m in batch.errors:  # a message is stored whole or not at all
            del chunk.items[start:], chunk.lines[start:], owners[start:], ids[start:]
    items: list[ObservationItem] = chunk.items
    while items:
        try:
            rows, entities = validate_observations(items, max_batch=len(items))
        except InvalidItem as exc:
            bad = set()
            for problem in exc.extensions["invalidItems"]:
                m, i = owners[problem["index"]]
                if m not in batch.errors:
                    batch.errors[m] = _item_error(i, problem["field"], problem["message"])
                bad.add(m)
            keep = [k for k, (m, _) in enumerate(owners) if m not in bad]
            items, owners, ids = [items[k] for k in keep], [owners[k] for k in keep], [ids[k] for k in keep]
            continue
        batch.rows, batch.entities = rows, entities
        batch.keys = [(ids[k], rows[k][0]) for k in range(len(rows))]
        break
    return batch
