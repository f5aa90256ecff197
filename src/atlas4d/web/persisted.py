"""Persisted operations: Apollo's automatic persisted queries (APQ) and trusted documents.

APQ (https://www.apollographql.com/docs/apollo-server/performance/apq): a client sends
`extensions.persistedQuery = {version: 1, sha256Hash}` without `query` (GET or POST). A known hash runs the
stored document; an unknown one answers PERSISTED_QUERY_NOT_FOUND, and the client sends the full text with the
hash, which we check (sha256 of the text) and store. The store is a per-process LRU, as Apollo Server's
default: a miss only costs the client one round trip.

Trusted documents: with `ATLAS4D_TRUSTED_DOCUMENTS` naming a manifest in Apollo's persisted-query manifest
format (`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{id, name, type, body}]}`,
what `@apollo/generate-persisted-query-manifest` writes), only its operations run: sent by id (the same
`persistedQuery` extension, whose `sha256Hash` is the manifest id, as `@apollo/persisted-query-lists`
sends it) or by their text; anything else is refused with PERSISTED_QUERY_NOT_IN_LIST, and APQ registers
nothing. Hand-written: no maintained Python library speaks this protocol, and it is a lookup and a hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from graphql import GraphQLError, parse, print_ast

from atlas4d.settings import Settings
from atlas4d.web.byte_cache import DEFAULT_BUDGET, ByteLRU, document_weight

MANIFEST_FORMAT = "apollo-persisted-query-manifest"


class ManifestError(ValueError):
    """The trusted-documents manifest cannot be used (raised at start-up, never to a client)."""


@dataclass(frozen=True)
class Refusal:
    """Why a persisted-operation request cannot run. `status` None: a request error, whose status follows
    the negotiated media type (as Apollo Server, PERSISTED_QUERY_NOT_FOUND is not an HTTP failure)."""

    code: str
    message: str
    status: int | None = None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _normal_form(text: str) -> str | None:
    """The document printed back from its AST (comments and layout gone), or None if it does not parse."""
    try:
        return print_ast(parse(text))
    except GraphQLError:
        return None


@dataclass
class TrustedDocuments:
    by_id: dict[str, str]
    bodies: frozenset[str]
    normal_forms: frozenset[str]

    @classmethod
    def load(cls, path: Path) -> TrustedDocuments:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ManifestError(f"cannot read the trusted-documents manifest {path}: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise ManifestError(
                f'{path} is not an Apollo persisted-query manifest ("format": "{MANIFEST_FORMAT}")'
            )
        if manifest.get("version") != 1:
            raise ManifestError(
                f"{path}: manifest version {manifest.get('version')!r} is not supported (1 is)"
            )
        operations = manifest.get("operations")
        if not isinstance(operations, list):
            raise ManifestError(f"{path}: `operations` must be a list")
        by_id: dict[str, str] = {}
        for i, op in enumerate(operations):
            if (
                not isinstance(op, dict)
                or not isinstance(op.get("id"), str)
                or not isinstance(op.get("body"), str)
            ):
                raise ManifestError(f"{path}: operation {i} needs a string `id` and `body`")
            normal = _normal_form(op["body"])
            if normal is None:
                raise ManifestError(f"{path}: operation {op['id']} ({op.get('name')}) does not parse")
            by_id[op["id"]] = op["body"]
        bodies = frozenset(by_id.values())
        return cls(by_id, bodies, frozenset(n for n in map(_normal_form, bodies) if n is not None))

    def allows(self, query: str) -> bool:
        return query in self.bodies or _normal_form(query) in self.normal_forms


@dataclass
class PersistedQueries:
    apq: bool
    cache_size: int
    trusted: TrustedDocuments | None = None
    cache_bytes: int = DEFAULT_BUDGET
    _cache: ByteLRU[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self._cache = ByteLRU(self.cache_bytes, self.cache_size)

    @classmethod
    def from_settings(cls, settings: Settings) -> PersistedQueries:
        path = settings.trusted_documents
        trusted = TrustedDocuments.load(path) if path is not None else None
        return cls(
            settings.persisted_queries, settings.persisted_queries_cache_size, trusted, settings.cache_bytes
        )

    def resolve(self, query: object, extensions: object, *, enforce: bool = True) -> str | Refusal | None:
        """The document text to run (None: no query and no persisted query, the caller's usual error), or
        why not. `enforce=False` (subgraph endpoints, called by gateways) skips the trusted-documents check."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        trusted = self.trusted if enforce else None
        if persisted is None:
            if trusted is not None and isinstance(query, str) and query.strip() and not trusted.allows(query):
                return Refusal(
                    "PERSISTED_QUERY_NOT_IN_LIST", "this server only runs its trusted documents", 400
                )
            return query if isinstance(query, str) else None
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            return Refusal("BAD_REQUEST", "Unsupported persisted query version", 400)
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not digest:
            return Refusal("BAD_REQUEST", "`persistedQuery.sha256Hash` must be a string", 400)
        if trusted is not None:
            known = trusted.by_id.get(digest)
            if known is not None:
                return known
            if isinstance(query, str) and query.strip():
                if not trusted.allows(query):
                    return Refusal(
                        "PERSISTED_QUERY_NOT_IN_LIST", "this server only runs its trusted documents", 400
                    )
                return query
            return Refusal("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        if not self.apq:
            return Refusal("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported")
        if isinstance(query, str) and query.strip():
            if sha256_hex(query) != digest.lower():
                return Refusal("BAD_REQUEST", "provided sha does not match query", 400)
            self._remember(digest.lower(), query)
            return query
        stored = self._cache.get(digest.lower())
        if stored is None:
            return Refusal("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        return stored

    def _remember(self, digest: str, query: str) -> None:
        self._cache.put(digest, query, document_weight(query))
