"""A field engineer pastes frames into the real ``headend decode`` (报文解析): every published
1376.1 and DL/T 645 frame of the codec tests decodes, as the sources say it should."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.published_frames import load_frame_sources
from tests.system.processes import cli

FRAMES = Path(__file__).parents[1] / "protocols"


def test_every_published_1376_frame_through_the_real_command() -> None:
    for source in load_frame_sources(FRAMES / "gdw1376" / "frames"):
        for exchange in source.exchanges:
            for frame in exchange.frames:
                done = cli(["decode", "--json", frame.text])
                assert done.returncode == 0, (exchange.where, done.stderr)
                out = json.loads(done.stdout)
                assert out["address"]["terminal"] == exchange.integer("terminal")
                assert out["address"]["region"] == exchange.text("region")
                if frame.direction == "request":
                    assert out["afn"].startswith(f"{exchange.integer('afn'):02X}H")


def test_published_dlt645_values_through_the_real_command() -> None:
    checked = 0
    for source in load_frame_sources(FRAMES / "dlt645" / "frames"):
        for exchange in source.exchanges:
            if exchange.reply is None or "value" not in exchange.stated:
                continue
            done = cli(["decode", exchange.reply.text])
            assert done.returncode == 0, (exchange.where, done.stderr)
            assert f"value: {exchange.number('value')}" in done.stdout
            checked += 1
    assert checked >= 3


def test_a_corrupt_frame_exits_6_and_says_why() -> None:
    done = cli(["decode", "68 32 00 32 00 68 C9 00 02 34 12 00 02 71 00 00 01 00 86 16"])
    assert done.returncode == 6
    assert "checksum 86, computed 85" in done.stderr
