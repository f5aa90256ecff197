"""Small federation cases (tests/js/fed-cases): JS subgraphs built with @apollo/subgraph, composed by
@apollo/composition, answered by our gateway, @apollo/gateway and Hive Gateway (@graphql-hive/gateway).

One node process serves every case's subgraphs (tests/js/case-subgraphs.js, counting requests and able to
refuse wasteful ones: "strict subgraphs"), another runs both peer gateways in-process over every supergraph
(tests/js/peer-gateways.js). Our gateway calls the same subgraphs over HTTP.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

from fed_servers import JS_DIR, require_node_modules

from atlas4d.federation.gateway import Gateway

PEERS = ("apollo", "hive")


class JsonLines:
    """A node script spoken to in JSON lines (anything else it prints is skipped)."""

    def __init__(self, script: str) -> None:
        require_node_modules()
        self.process = subprocess.Popen(
            ["node", str(JS_DIR / script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=JS_DIR,
        )
        self.first = self.read()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"node {self.process.args} ended")
            try:
                found = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(found, dict):
                return found

    def send(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        reply = self.read()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@dataclass
class Cases:
    subgraphs: JsonLines
    peers: JsonLines
    supergraphs: dict[str, str]
    gateways: dict[str, Gateway] = field(default_factory=dict)

    def reset(self) -> None:
        self.subgraphs.send(cmd="reset")

    def counts(self, case: str) -> dict[str, int]:
        return dict(self.subgraphs.send(cmd="counts").get(case, {}))

    def strict(self, on: bool) -> None:
        self.subgraphs.send(cmd="strict", on=on)

    def queries(self, case: str) -> list[tuple[str, str]]:
        return [(s, q) for s, q, *_ in self.subgraphs.send(cmd="log", case=case)["queries"]]

    def peer(self, gateway: str, case: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        reply = self.peers.send(
            cmd="query", gateway=gateway, name=case, query=query, variables=variables or {}
        )
        return reply["response"]

    async def ours(self, case: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.gateways[case].execute(query, variables)


def start_cases() -> Cases:
    subgraphs = JsonLines("case-subgraphs.js")
    try:
        peers = JsonLines("peer-gateways.js")
    except Exception:
        subgraphs.stop()
        raise
    supergraphs: dict[str, str] = {}
    for name, composed in subgraphs.first["cases"].items():
        assert "supergraphSdl" in composed, (name, composed.get("errors"))
        supergraphs[name] = composed["supergraphSdl"]
        peers.send(cmd="load", name=name, supergraph=composed["supergraphSdl"])
    cases = Cases(subgraphs, peers, supergraphs)
    for name, sdl in supergraphs.items():
        cases.gateways[name] = Gateway.from_supergraph(sdl, timeout=15.0)
    return cases


def stop_cases(cases: Cases) -> None:
    cases.subgraphs.stop()
    cases.peers.stop()


def data_and_error_paths(response: dict[str, Any]) -> tuple[Any, list[Any]]:
    """What gateways must agree on: the data, and where errors are (messages differ between gateways)."""
    paths = sorted(json.dumps(e.get("path")) for e in response.get("errors") or ())
    return response.get("data"), paths
