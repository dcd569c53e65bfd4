"""Fleet config: a good file loads; every mistake names file, key and problem."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from headend.anomaly import AnomalyKind, Timing, VoltageBand
from headend.bus.lanes import Lane
from headend.config.durations import parse_duration
from headend.config.errors import ConfigError
from headend.config.fleet import load_fleet_config, parse_fleet_config
from headend.config.storage import EmbeddedStorage, InfluxV1Storage
from headend.engine import Engine
from headend.service import ServiceOptions, api_settings, engine_options
from storage.schema import Record

GOOD = """
[site]
name = "Heping Road"
timezone = "Asia/Shanghai"

[[channels]]
name = "bus-1"
url = "tcp://127.0.0.1:9001"
timeout = "800ms"

[[channels]]
name = "modbus-1"
url = "tcp://127.0.0.1:502"
protocol = "modbus"

[[transformers]]
name = "T1"
rated_kva = 400

[plans.household]
daily_frozen = true
backfill_days = 10
[[plans.household.reads]]
quantities = ["voltage_a", "current_a", "power_active_total"]
interval = "1m"
[[plans.household.reads]]
quantities = ["energy_active_import_total"]
interval = "15m"
lane = "billing"

[[meters]]
address = "000000000001"
channel = "bus-1"
plan = "household"
transformer = "T1"
building = "B1"
household = "1-101"
phase = "A"

[[meters]]
id = "pile-1"
channel = "modbus-1"
unit_id = 3
register_map = "chint_dtsu666"
plan = "household"
ct_ratio = 40
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads(tmp_path: Path) -> None:
    config = load_fleet_config(write(tmp_path, GOOD))
    assert config.site == "Heping Road"
    assert config.channels["bus-1"].timeout == pytest.approx(0.8)
    assert config.channels["bus-1"].protocol == "dlt645-2007"
    plan = config.plans["household"]
    assert [r.lane for r in plan.reads] == [Lane.TELEMETRY, Lane.BILLING]
    assert plan.reads[1].interval == 900
    meter = config.meters["000000000001"]
    assert meter.tags() == {
        "channel": "bus-1",
        "transformer": "T1",
        "building": "B1",
        "household": "1-101",
        "phase": "A",
    }
    assert config.meters["pile-1"].unit_id == 3
    assert config.storage == EmbeddedStorage()


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('address = "000000000001"', 'address = "12345"', "meters[0].address", "12-digit"),
        (
            'address = "000000000001"',
            'address = "000000000001\\n"',
            "meters[0].address",
            "12-digit",
        ),
        ('channel = "bus-1"\nplan', 'channel = "bus-9"\nplan', "meters[0].channel", "bus-9"),
        ('plan = "household"\ntransformer', 'plan = "flat"\ntransformer', "meters[0].plan", "flat"),
        ('timeout = "800ms"', 'timeout = "fast"', "channels[0].timeout", "duration"),
        ("rated_kva = 400", "rated_kva = true", "transformers[0].rated_kva", "a number"),
        ("unit_id = 3", "unit_id = 300", "meters[1].unit_id", "1-247"),
        ('url = "tcp://127.0.0.1:9001"', 'url = "tcp://127.0.0.1"', "channels[0].url", "port"),
        ('phase = "A"', 'phase = "A"\nphse = "B"', "meters[0].phse", "unknown key"),
        ('lane = "billing"', 'lane = "urgent"', "plans.household.reads[1].lane", "one of"),
    ],
)
def test_mistakes_name_file_key_and_problem(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_fleet_config(path)
    assert info.value.key == key
    assert problem in info.value.problem
    assert str(path) in str(info.value)


def test_two_meters_with_one_address_on_one_bus(tmp_path: Path) -> None:
    extra = '\n[[meters]]\naddress = "000000000001"\nchannel = "bus-1"\nplan = "household"\n'
    extra += 'id = "x"\n'
    with pytest.raises(ConfigError, match="already used"):
        load_fleet_config(write(tmp_path, GOOD + extra))


SITE_TARIFFS = 'timezone = "Asia/Shanghai"\n'


def test_tariff_names_default_to_the_state_grid_assignment(tmp_path: Path) -> None:
    config = load_fleet_config(write(tmp_path, GOOD))
    assert dict(config.tariff_names) == {1: "sharp", 2: "peak", 3: "flat", 4: "valley"}


def test_tariff_names_are_the_sites(tmp_path: Path) -> None:
    names = 'tariff_names = { 1 = "peak", 2 = "flat", 3 = "valley", 12 = "deep_valley" }\n'
    config = load_fleet_config(write(tmp_path, GOOD.replace(SITE_TARIFFS, SITE_TARIFFS + names)))
    assert dict(config.tariff_names) == {1: "peak", 2: "flat", 3: "valley", 12: "deep_valley"}


@pytest.mark.parametrize(
    ("names", "key", "problem"),
    [
        ('{ 1 = "sharp", 2 = "cheap" }', "site.tariff_names.2", "unknown tariff name 'cheap'"),
        ('{ 64 = "peak" }', "site.tariff_names.64", "not 1..63"),
        ('{ 0 = "peak" }', "site.tariff_names.0", "not 1..63"),
        ('{ 01 = "peak" }', "site.tariff_names.01", "not 1..63"),
        ('{ night = "valley" }', "site.tariff_names.night", "not 1..63"),
        ("{ 1 = 1 }", "site.tariff_names.1", "text"),
    ],
)
def test_a_wrong_tariff_name_or_number_names_its_key(
    tmp_path: Path, names: str, key: str, problem: str
) -> None:
    text = GOOD.replace(SITE_TARIFFS, f"{SITE_TARIFFS}tariff_names = {names}\n")
    with pytest.raises(ConfigError) as info:
        load_fleet_config(write(tmp_path, text))
    assert info.value.key == key
    assert problem in info.value.problem


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="syntax"):
        load_fleet_config(write(tmp_path, "[site\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_fleet_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("15m", 900), ("1h", 3600), (2, 2.0)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_bad_durations() -> None:
    for bad in ("soon", "-1s", -1):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_meter_kind_marks_the_transformers_own_lv_meter(tmp_path: Path) -> None:
    text = GOOD.replace(
        "ct_ratio = 40", 'ct_ratio = 40\ntransformer = "T1"\nkind = "transformer_lv"', 1
    )
    config = load_fleet_config(write(tmp_path, text))
    assert config.meters["pile-1"].kind == "transformer_lv"
    assert config.meters["000000000001"].kind == "load"


@pytest.mark.parametrize(
    ("kind", "problem"),
    [('kind = "transformer_lv"', "needs the transformer"), ('kind = "lv"', "one of")],
)
def test_bad_meter_kind_names_its_key(tmp_path: Path, kind: str, problem: str) -> None:
    path = write(tmp_path, GOOD.replace("ct_ratio = 40", f"ct_ratio = 40\n{kind}", 1))
    with pytest.raises(ConfigError) as info:
        load_fleet_config(path)
    assert info.value.key == "meters[1].kind"
    assert problem in info.value.problem


ANOMALY = """
[anomaly]
heavy_load_rate = 0.75
silent_reasons = ["timeout"]
link_reasons = ["connection_lost"]
[anomaly.single_phase]
nominal_v = 230
lower_pct = 10
upper_pct = 10
[anomaly.timings.voltage_low_sustained]
min_duration_s = 1800
clear_after_s = 600
"""
"""The example of docs/anomaly.md, with values that differ from the defaults."""


def test_anomaly_table_of_the_docs_reaches_the_engine(tmp_path: Path) -> None:
    config = load_fleet_config(write(tmp_path, GOOD + ANOMALY))
    options = engine_options(config, ServiceOptions(data_dir=tmp_path))
    assert options.anomaly is not None
    assert options.anomaly.heavy_load_rate == pytest.approx(0.75)
    assert options.anomaly.single_phase == VoltageBand(230.0, 10.0, 10.0)
    sustained = options.anomaly.timing(AnomalyKind.VOLTAGE_LOW_SUSTAINED)
    assert sustained == Timing(1800.0, 600.0)
    assert options.audit_path == tmp_path / "audit.jsonl"


def test_without_an_anomaly_table_the_engine_uses_the_defaults(tmp_path: Path) -> None:
    config = load_fleet_config(write(tmp_path, GOOD))
    assert config.anomaly is None
    assert engine_options(config, ServiceOptions(data_dir=tmp_path)).anomaly is None


def test_engine_starts_with_a_fleet_of_no_meters(tmp_path: Path) -> None:
    """Meters may all be added later through the API: an empty fleet is not a crash."""
    config = load_fleet_config(write(tmp_path, '[site]\nname = "new site"\n'))
    engine = Engine(config, _NullSink())
    assert engine.detector.layout.meter_ids == ()


class _NullSink:
    async def write(self, batch: Sequence[Record]) -> None:
        pass

    async def aclose(self) -> None:
        pass


WRONG_VALUES: tuple[object, ...] = (
    5,
    -1,
    0,
    1.5,
    float("nan"),
    float("inf"),
    True,
    "",
    "x" * 300,
    "\x00",
    [],
    [1],
    {},
    {"a": 1},
    10**30,
)


def _key_paths(node: object, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    items: Iterable[tuple[str | int, object]] = ()
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    for key, child in items:
        yield (*prefix, key)
        yield from _key_paths(child, (*prefix, key))


def test_any_wrong_value_anywhere_is_a_config_error() -> None:
    """Each key of a full config, removed or replaced by a wrong value, is refused with a
    ConfigError (file and key named) or accepted, never an exception of another kind."""
    full = GOOD + ANOMALY + '[mqtt]\nhost = "broker"\ningest_topics = ["t/+"]\n'
    full += '[mqtt.names]\nPhV = "voltage_a"\n'
    full += '[api]\nlisten = "127.0.0.1:0"\n[[api.tokens]]\nname = "r"\nrole = "reader"\n'
    full += 'token_env = "TOKEN"\n'
    base = tomllib.loads(full)
    unexpected = []
    for path in list(_key_paths(base)):
        for wrong in (None, *WRONG_VALUES):
            document = copy.deepcopy(base)
            parent: Any = document
            for key in path[:-1]:
                parent = parent[key]
            if wrong is None:
                if not isinstance(parent, dict):
                    continue
                del parent[path[-1]]
            else:
                parent[path[-1]] = wrong
            try:
                config = parse_fleet_config(document, "fleet.toml")
                api_settings(config, {"TOKEN": "a-long-enough-secret"})
            except ConfigError as exc:
                if exc.source != "fleet.toml":
                    unexpected.append(f"{path} = {wrong!r:.20}: names {exc.source}")
            except Exception as exc:
                unexpected.append(f"{path} = {wrong!r:.20}: {type(exc).__name__}: {exc}")
    assert unexpected == []


def _refused_at_load(tmp_path: Path, text: str) -> ConfigError:
    """``text`` loads with no environment at all: the tables are judged when the file loads."""
    with pytest.raises(ConfigError) as info:
        load_fleet_config(write(tmp_path, text))
    assert str(tmp_path / "fleet.toml") in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("storage", "key", "problem"),
    [
        ('kind = "influxdb-v3"', "storage.kind", "expected one of 'embedded'"),
        (
            'kind = "influxdb-v2"\nurl = "influx:8086"\nbucket = "b"\ntoken_env = "T"',
            "storage.url",
            "expected http://host:port",
        ),
        (
            'kind = "influxdb-v2"\nurl = "http://h:8086"\ntoken_env = "T"',
            "storage.bucket",
            "is required",
        ),
        (
            'kind = "influxdb-v2"\nurl = "http://h:8086"\nbucket = "b"\ntoken = "x"',
            "storage.token_env",
            "is required",
        ),
        ('kind = "embedded"\nbucket = "b"', "storage.bucket", "unknown key"),
        (
            'kind = "influxdb-v1"\nurl = "http://h:8086"\ndatabase = "m"\noutbox_capacity_mb = 0',
            "storage.outbox_capacity_mb",
            "must be >= 1",
        ),
        ('buffer_records = "many"', "storage.buffer_records", "expected an integer, got 'many'"),
        ("max_size_mb = nan", "storage.max_size_mb", "finite"),
    ],
)
def test_a_bad_storage_table_is_refused_at_load(
    tmp_path: Path, storage: str, key: str, problem: str
) -> None:
    error = _refused_at_load(tmp_path, f"{GOOD}\n[storage]\n{storage}\n")
    assert error.key.startswith(key)
    assert problem in error.problem


def test_storage_of_each_kind_loads_and_keeps_its_secret_out() -> None:
    document = {
        "storage": {
            "kind": "influxdb-v1",
            "url": "http://127.0.0.1:8086",
            "database": "meters",
            "password_env": "INFLUX_PASSWORD",
        }
    }
    storage = parse_fleet_config(document, "fleet.toml").storage
    assert isinstance(storage, InfluxV1Storage)
    assert (storage.database, storage.password_env, storage.buffer_records) == (
        "meters",
        "INFLUX_PASSWORD",
        100_000,
    )
    with pytest.raises(ConfigError, match=r"^fleet.toml: storage.password: unknown key"):
        parse_fleet_config({"storage": {**document["storage"], "password": "x"}}, "fleet.toml")


TOKENS = """
[[api.tokens]]
name = "billing"
role = "reader"
token_env = "HEADEND_TEST_UNSET_A"
[[api.tokens]]
name = "ops"
role = "operator"
token_env = "HEADEND_TEST_UNSET_B"
"""


@pytest.mark.parametrize(
    ("api", "key", "problem"),
    [
        ('[api]\nlisten = "8080"', "api.listen", "expected host:port, got '8080'"),
        ("[api]\nport = 8080", "api.port", "unknown key"),
        ("[api]\nmax_body_bytes = 1.5", "api.max_body_bytes", "expected an integer, got 1.5"),
        ("[api]\nmax_stream_clients = 0", "api.max_stream_clients", "must be >= 1"),
        (TOKENS.replace('"operator"', '"root"'), "api.tokens[1].role", "expected one of"),
        (TOKENS.replace('"ops"', '"billing"'), "api.tokens[1].name", "duplicate name 'billing'"),
        (
            TOKENS.replace('token_env = "HEADEND_TEST_UNSET_B"', ""),
            "api.tokens[1].token_env",
            "is required",
        ),
        (TOKENS + "token = 'secret'\n", "api.tokens[1].token", "unknown key"),
        ("[api]\ntokens = 'billing'", "api.tokens", "expected a list"),
    ],
)
def test_a_bad_api_table_is_refused_at_load(
    tmp_path: Path, api: str, key: str, problem: str
) -> None:
    error = _refused_at_load(tmp_path, f"{GOOD}\n{api}\n")
    assert error.key == key
    assert problem in error.problem


def test_api_tokens_load_without_their_secrets_which_the_service_reads(tmp_path: Path) -> None:
    """Loading needs no secret (tests and tools load fleet files); starting the service does."""
    config = load_fleet_config(write(tmp_path, GOOD + TOKENS))
    assert [(t.name, t.role) for t in config.api.tokens] == [
        ("billing", "reader"),
        ("ops", "operator"),
    ]
    with pytest.raises(ConfigError, match=r"api.tokens\[0\].token_env: .*HEADEND_TEST_UNSET_A"):
        api_settings(config, {})


FULL = (
    GOOD
    + ANOMALY
    + """
[anomaly.timings.overload]
min_duration_s = 60
clear_after_s = 60

[clock]
drift_threshold = "1m"

[mqtt]
host = "broker"
[mqtt.names]
Psum = {quantity = "power_active_total", unit = "W"}
[[mqtt.requesters]]
name = "ops"
token_env = "MQTT_TOKEN"

[storage]
kind = "embedded"

[api]
listen = "127.0.0.1:0"
[[api.tokens]]
name = "r"
role = "reader"
token_env = "TOKEN"
"""
)
"""Every table the fleet file has, each with at least one key."""
NAMED = {("plans",), ("anomaly", "timings"), ("mqtt", "names")}
"""Tables whose keys are names of the operator's choosing (plans, timings per rule, points)."""


def _tables(node: object, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(node, dict):
        yield prefix
    for path in _key_paths(node):
        child: Any = node
        for key in path:
            child = child[key]
        if isinstance(child, dict) and path not in NAMED:
            yield path


def _key(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


@pytest.mark.parametrize("table", list(_tables(tomllib.loads(FULL))), ids=_key)
def test_an_unknown_key_is_refused_in_every_table(table: tuple[str | int, ...]) -> None:
    document = tomllib.loads(FULL)
    assert parse_fleet_config(document, "fleet.toml", environ={"MQTT_TOKEN": "x" * 16})
    node: Any = document
    for key in table:
        node = node[key]
    node["typo"] = 1
    with pytest.raises(ConfigError) as info:
        parse_fleet_config(document, "fleet.toml", environ={"MQTT_TOKEN": "x" * 16})
    assert info.value.key == _key((*table, "typo"))
    assert info.value.problem == "unknown key (typo?)"
    assert str(info.value).startswith(f"fleet.toml: {_key((*table, 'typo'))}")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "ct_ratio = 40",
            'ct_ratio = "40"',
            "meters[1].ct_ratio (meter pile-1): expected a number, got '40'",
        ),
        (
            'phase = "A"',
            "phase = 1",
            "meters[0].phase (meter 000000000001): expected one of 'A', 'B', 'C' or 'ABC', got 1",
        ),
        ("unit_id = 3", "unit_id = 3.0", "meters[1].unit_id (meter pile-1): expected an integer"),
        (
            'address = "000000000001"',
            "address = 1",
            "meters[0].address (meter (no id or address)): expected text, got 1",
        ),
        ("backfill_days = 10", "backfill_days = true", "plans.household.backfill_days: expected"),
        (
            "daily_frozen = true",
            'daily_frozen = "yes"',
            "plans.household.daily_frozen: expected true/false, got 'yes'",
        ),
    ],
)
def test_a_wrong_type_names_file_key_and_meter(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    error = _refused_at_load(tmp_path, GOOD.replace(old, new, 1))
    assert f"{tmp_path / 'fleet.toml'}: {message}" in str(error)
