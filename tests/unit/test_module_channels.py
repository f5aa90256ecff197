"""Module change channels (atlas4d.streaming.changes / derived): the notice a module's trigger sends parses to a
change of kind `m:<channel>` and formats back unchanged (relays republish it); malformed ones are not ours."""

from __future__ import annotations

import pytest

from atlas4d.streaming.changes import BadNotice, format_change, parse_change
from atlas4d.streaming.derived import DerivedTopic


def test_a_module_notice_round_trips() -> None:
    payload = "m;telecom.anomalies;0b7c6f1e-3c4e-4f3e-9b1a-2f0e8d6c5a4b,f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b"
    change = parse_change(payload)
    assert change.kind == "m:telecom.anomalies" and change.rows == 2
    assert format_change(change) == payload


@pytest.mark.parametrize("payload", ["m;Telecom.anomalies;x", "m;telecom;x", "m;telecom.anomalies;", "m"])
def test_malformed_module_notices_are_refused(payload: str) -> None:
    with pytest.raises(BadNotice):
        parse_change(payload)


def test_a_topic_names_a_known_channel() -> None:
    def topic(channel: str) -> DerivedTopic:
        return DerivedTopic("x.y", channel, "SELECT 1", lambda _s, _r: True, lambda r: r)

    assert topic("observations").change_kind == "o"
    assert topic("module:telecom.anomalies").change_kind == "m:telecom.anomalies"
    for bad in ("rows", "module:telecom", "module:Telecom.x"):
        with pytest.raises(ValueError):
            topic(bad)
