"""One Chint DTSU666 Modbus meter (``pile-1``, unit 1) on a Modbus TCP channel at a given
port: the fleet the engine's and the Modbus driver's tests collect from a pymodbus server."""

from __future__ import annotations

from datetime import UTC, datetime

START = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


def modbus_fleet(port: int) -> dict[str, object]:
    return {
        "site": {"name": "test", "timezone": "UTC"},
        "channels": [
            {
                "name": "pile-bus",
                "url": f"tcp://127.0.0.1:{port}",
                "protocol": "modbus",
                "timeout": "500ms",
                "retries": 1,
                "retry_backoff": "10ms",
            }
        ],
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "plans": {
            "pile": {
                "reads": [
                    {
                        "quantities": ["voltage_a", "current_a", "power_active_total"],
                        "interval": "1m",
                    },
                    {
                        "quantities": ["energy_active_import_total"],
                        "interval": "15m",
                        "lane": "billing",
                    },
                ]
            }
        },
        "meters": [
            {
                "id": "pile-1",
                "channel": "pile-bus",
                "unit_id": 1,
                "register_map": "chint_dtsu666",
                "plan": "pile",
                "transformer": "T1",
                "building": "B1",
            },
        ],
    }
