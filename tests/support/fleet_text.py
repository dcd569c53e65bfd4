"""The smallest fleet file a head-end starts on: one DL/T 645 meter on a TCP channel nobody
answers (port 9, discard). Tests that start ``headend run`` only for its config handling, its
API or its exit status append what they are about (``[storage]``, ``[api]`` ...)."""

from __future__ import annotations


def one_meter_fleet(interval: str = "1m") -> str:
    return f"""
[[channels]]
name = "bus-1"
url = "tcp://127.0.0.1:9"

[plans.flat]
[[plans.flat.reads]]
quantities = ["voltage_a"]
interval = "{interval}"

[[meters]]
address = "000000000001"
channel = "bus-1"
plan = "flat"
"""
