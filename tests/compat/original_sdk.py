"""The original Atlas4D Python SDK's request shapes (v0.3.0, `atlas4d.Client` / `atlas4d.AsyncClient`), written
here from its documented API for the compatibility suite: the same constructor (host, port or
`ATLAS4D_HOST`/`ATLAS4D_PORT`), methods, defaults and query parameters, the same transports (a `requests`
session for the sync client, `httpx.AsyncClient` for the async one) and the same error handling (an HTTP
error status raises, a body is parsed as JSON). Only what goes over the wire matters here.

Methods: `health()`, `stats()`, `observations.list(lat, lon, radius_km=10, hours=24, source_type, limit=100)`
(`lat`/`lon`/`source_type` sent only when given), `observations.geojson(limit=100)`,
`anomalies.list(hours=24, limit=100)`, `rag.query(question, top_k=3, lang="en")` → POST `/api/nlq/rag`
`{"q", "top_k", "lang"}` answered as `RAGAnswer(text, sources, chunks_used)`, `ask(...)` (= `rag.query`),
`close()`, context managers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urljoin

import httpx
import requests


@dataclass
class RAGAnswer:
    text: str
    sources: list[dict[str, Any]]
    chunks_used: int


def _observation_params(
    lat: float | None, lon: float | None, radius_km: float, hours: int, source_type: str | None, limit: int
) -> dict[str, Any]:
    params: dict[str, Any] = {"radius_km": radius_km, "hours": hours, "limit": limit}
    if lat is not None:
        params["lat"] = lat
    if lon is not None:
        params["lon"] = lon
    if source_type:
        params["source_type"] = source_type
    return params


def _answer(data: dict[str, Any]) -> RAGAnswer:
    return RAGAnswer(data.get("answer", ""), data.get("sources", []), data.get("chunks_used", 0))


class Client:
    def __init__(self, host: str | None = None, port: int | None = None, timeout: int = 30) -> None:
        self.host = host or os.getenv("ATLAS4D_HOST", "localhost")
        self.port = port or int(os.getenv("ATLAS4D_PORT", "8090"))
        self.base_url = f"http://{self.host}:{self.port}"
        self.timeout = timeout
        self._session = requests.Session()
        self.observations = _Observations(self)
        self.anomalies = _Anomalies(self)
        self.rag = _RAG(self)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._session.get(urljoin(self.base_url, path), params=params, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, json: dict[str, Any] | None = None) -> Any:
        response = self._session.post(urljoin(self.base_url, path), json=json, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def health(self) -> Any:
        return self._get("/health")

    def stats(self) -> Any:
        return self._get("/api/stats")

    def ask(self, question: str, top_k: int = 3, lang: str = "en") -> RAGAnswer:
        return self.rag.query(question, top_k=top_k, lang=lang)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Observations:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        lat: float | None = None,
        lon: float | None = None,
        radius_km: float = 10,
        hours: int = 24,
        source_type: str | None = None,
        limit: int = 100,
    ) -> Any:
        params = _observation_params(lat, lon, radius_km, hours, source_type, limit)
        return self._client._get("/api/observations", params=params)

    def geojson(self, limit: int = 100) -> Any:
        return self._client._get("/api/geojson/observations", params={"limit": limit})


class _Anomalies:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, hours: int = 24, limit: int = 100) -> Any:
        return self._client._get("/api/anomalies", params={"hours": hours, "limit": limit})


class _RAG:
    def __init__(self, client: Client) -> None:
        self._client = client

    def query(self, question: str, top_k: int = 3, lang: str = "en") -> RAGAnswer:
        return _answer(self._client._post("/api/nlq/rag", json={"q": question, "top_k": top_k, "lang": lang}))


class AsyncClient:
    def __init__(self, host: str | None = None, port: int | None = None, timeout: float = 30.0) -> None:
        self.host = host or os.getenv("ATLAS4D_HOST", "localhost")
        self.port = port or int(os.getenv("ATLAS4D_PORT", "8090"))
        self.base_url = f"http://{self.host}:{self.port}"
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self.observations = _AsyncObservations(self)
        self.anomalies = _AsyncAnomalies(self)
        self.rag = _AsyncRAG(self)

    async def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)
        return self._client

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await (await self._ensure_client()).get(path, params=params)
        response.raise_for_status()
        return response.json()

    async def _post(self, path: str, json: dict[str, Any] | None = None) -> Any:
        response = await (await self._ensure_client()).post(path, json=json)
        response.raise_for_status()
        return response.json()

    async def health(self) -> Any:
        return await self._get("/health")

    async def stats(self) -> Any:
        return await self._get("/api/stats")

    async def ask(self, question: str, top_k: int = 3, lang: str = "en") -> RAGAnswer:
        return await self.rag.query(question, top_k=top_k, lang=lang)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class _AsyncObservations:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(
        self,
        lat: float | None = None,
        lon: float | None = None,
        radius_km: float = 10,
        hours: int = 24,
        source_type: str | None = None,
        limit: int = 100,
    ) -> Any:
        params = _observation_params(lat, lon, radius_km, hours, source_type, limit)
        return await self._client._get("/api/observations", params=params)

    async def geojson(self, limit: int = 100) -> Any:
        return await self._client._get("/api/geojson/observations", params={"limit": limit})


class _AsyncAnomalies:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, hours: int = 24, limit: int = 100) -> Any:
        return await self._client._get("/api/anomalies", params={"hours": hours, "limit": limit})


class _AsyncRAG:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def query(self, question: str, top_k: int = 3, lang: str = "en") -> RAGAnswer:
        data = await self._client._post("/api/nlq/rag", json={"q": question, "top_k": top_k, "lang": lang})
        return _answer(data)
