"""The Burgas scenario's fixed geography: roads the vehicles drive and where the network stands.

Coordinates are approximate traces of real Burgas corridors (city centre, the airport road past Lake
Atanasovsko, the Vaya lakeside road west, Meden Rudnik, the Sea Garden coast to Izgrev, the port road to
Kraimorie) — close enough for a map demo, not survey data. The three OLT positions are the original
Atlas4D telecom demo's.
"""

from __future__ import annotations

from atlas4d.demo.geo import Polyline

CENTER = (27.4700, 42.4960)  # lon, lat: Troykata, the city centre

ROUTES: tuple[Polyline, ...] = (
    Polyline(
        "centre-sarafovo-airport",
        (
            (27.4700, 42.4960), (27.4665, 42.5035), (27.4660, 42.5080), (27.4690, 42.5230), (27.4750, 42.5310),
            (27.4810, 42.5380), (27.4950, 42.5520), (27.5150, 42.5620), (27.5300, 42.5600),
        ),
    ),
    Polyline(
        "dolno-ezerovo-vaya-lakeside",
        (
            (27.3850, 42.4960), (27.3950, 42.4975), (27.4050, 42.4990), (27.4250, 42.5020), (27.4450, 42.5030),
            (27.4600, 42.4990), (27.4700, 42.4960),
        ),
    ),
    Polyline(
        "centre-meden-rudnik",
        (
            (27.4700, 42.4960), (27.4620, 42.4880), (27.4570, 42.4825), (27.4520, 42.4770), (27.4430, 42.4650),
            (27.4370, 42.4560),
        ),
    ),
    Polyline(
        "sea-garden-lazur-izgrev",
        (
            (27.4850, 42.4930), (27.4880, 42.5020), (27.4850, 42.5110), (27.4780, 42.5150), (27.4700, 42.5180),
            (27.4550, 42.5210), (27.4380, 42.5200),
        ),
    ),
    Polyline(
        "port-kraimorie-coast",
        (
            (27.4780, 42.4900), (27.4750, 42.4800), (27.4800, 42.4740), (27.4850, 42.4680), (27.4980, 42.4560),
            (27.5080, 42.4470),
        ),
    ),
)  # fmt: skip

# Everything the scenario places falls inside this box (min lon, min lat, max lon, max lat).
AREA = (27.30, 42.40, 27.60, 42.62)

OLTS: tuple[tuple[str, float, float, int, int], ...] = (
    # name, lon, lat, capacity_gbps, active_ports
    ("OLT-Burgas-Central", 27.4626, 42.5048, 40, 128),
    ("OLT-Burgas-South", 27.4734, 42.4892, 40, 96),
    ("OLT-Burgas-North", 27.4412, 42.5234, 20, 64),
)
SWITCHES = 5
CPES = 20

# Local time is UTC+2 (EET); traffic follows the local day.
LOCAL_UTC_OFFSET_H = 2
