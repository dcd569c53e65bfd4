"""DTUs that dial in, through the real processes: ``headend simulate --dial-in`` makes every
bus's DTU call the head-end's ``[dial_in]`` listener with a registration packet and heartbeat
twice a (real) second between the bus bytes; ``headend run`` owns each as a bus. Scheduled
and on-demand reads come back equal to the community model, a stranger that calls with an
unknown registration is refused without disturbing them.
"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.ports import free_tcp_port
from tests.system.processes import start_headend, start_simulation
from tests.system.truth import VOLTAGE_STEP, GroundTruth, matches_one

SCENARIO = "smoke"
SEED = 11
METER = "S2-H001"


def test_dialled_in_buses_are_read_equal_to_the_model(tmp_path: Path) -> None:
    listener = free_tcp_port()
    (tmp_path / "simulate").mkdir()
    simulation = start_simulation(
        SCENARIO, tmp_path / "simulate", seed=SEED, extra=["--dial-in", f"127.0.0.1:{listener}"]
    )
    try:
        config = simulation.config()
        assert (config.dial_in.host, config.dial_in.port) == ("127.0.0.1", listener)
        assert all(c.url.startswith("dialin://SIMDTU-") for c in config.channels.values()), (
            config.channels
        )
        bus_lines = [line for line in simulation.child.lines if line.startswith("bus ")]
        assert bus_lines
        assert all(line.endswith(f"dials tcp://127.0.0.1:{listener}") for line in bus_lines)
        truth = GroundTruth(SCENARIO, SEED)
        headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
        try:
            with headend.stream() as events:  # a scheduled read through a DTU that called
                scheduled = events.next_reading(
                    lambda r: r["quantity"] == "voltage_a" and r["quality"] == "actual"
                )
            # A stranger: an unknown registration is refused, the buses go on.
            with socket.create_connection(("127.0.0.1", listener), timeout=10) as stranger:
                stranger.sendall(b"NOT-A-DTU-OF-OURS")
                refused = stranger.recv(16)
            clock = simulation.clock()
            before = clock.now()
            (reading,) = headend.request(
                "POST",
                f"/api/meters/{METER}/read",
                role="operator",
                json={"quantities": ["voltage_a"]},
            ).json()
            after = clock.now()
            listed = {m["id"]: m for m in headend.get("/api/meters")}
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]
    assert scheduled["meter"] in listed
    assert refused == b""  # closed by the listener
    shown = truth.values_between(METER, "voltage_a", before, after)
    assert matches_one(reading["value"], shown, VOLTAGE_STEP), (reading, shown)
    assert reading["quality"] == "actual"
    assert listed[METER]["status"] == "online"
    assert "unknown registration" in headend.child.stderr()
