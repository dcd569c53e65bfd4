"""The ``[api]`` TOML table: tokens from the environment, errors naming file and key."""

from __future__ import annotations

import tomllib
import typing

import pytest

from headend.api import ApiLimits, Role
from headend.api.settings import ApiSettings
from headend.config.api import ROLES, TokenTable
from headend.config.errors import ConfigError
from headend.config.fleet import parse_fleet_config
from headend.service import api_settings

GOOD = """
[api]
listen = "0.0.0.0:9090"

[[api.tokens]]
name = "billing"
role = "reader"
token_env = "T_BILLING"

[[api.tokens]]
name = "ops"
role = "operator"
token_env = "T_OPS"
"""
ENV = {"T_BILLING": "billing-secret", "T_OPS": "ops-secret-1"}


def parse_api_settings(text: str, environ: dict[str, str]) -> ApiSettings:
    """The fleet file loads (its [api] table checked), then the service reads the tokens."""
    return api_settings(parse_fleet_config(tomllib.loads(text), "fleet.toml"), environ)


def test_tokens_come_from_the_environment() -> None:
    settings = parse_api_settings(GOOD, ENV)
    assert (settings.host, settings.port) == ("0.0.0.0", 9090)
    assert [(t.name, t.role, t.token) for t in settings.tokens] == [
        ("billing", Role.READER, "billing-secret"),
        ("ops", Role.OPERATOR, "ops-secret-1"),
    ]


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (GOOD, {"T_BILLING": "billing-secret"}, r"api.tokens\[1\].token_env: .*T_OPS is not set"),
        (GOOD.replace('"operator"', '"root"'), ENV, r"api.tokens\[1\].role: expected one of"),
        (GOOD, {**ENV, "T_OPS": "short"}, r"api.tokens\[1\].token_env: T_OPS holds fewer"),
        (GOOD, {**ENV, "T_OPS": "billing-secret"}, r"api.tokens\[1\].token_env: .*same secret"),
        (GOOD.replace('"ops"', '"billing"'), ENV, r"api.tokens\[1\].name: duplicate"),
        (GOOD.replace("0.0.0.0:9090", "9090"), ENV, r"api.listen: expected host:port"),
        (GOOD.replace('token_env = "T_OPS"', 'token = "x"'), ENV, r"api.tokens\[1\].token_env"),
        (GOOD + "tls = true\n", ENV, r"api.tokens\[1\].tls: unknown key"),
        (
            GOOD.replace("[[api.tokens]]", "max_body_bytes = -1\n[[api.tokens]]", 1),
            ENV,
            r"api.max_body_bytes: must be >= 0",
        ),
        (
            GOOD.replace("[[api.tokens]]", "max_stream_clients = 0\n[[api.tokens]]", 1),
            ENV,
            r"api.max_stream_clients: must be >= 1",
        ),
    ],
)
def test_bad_api_tables_name_file_and_key(text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=r"^fleet.toml: " + message):
        parse_api_settings(text, env)


def test_limits_default_and_can_be_set() -> None:
    assert parse_api_settings(GOOD, ENV).limits == ApiLimits()
    text = GOOD.replace(
        "[[api.tokens]]", "max_body_bytes = 1024\nmax_stream_clients = 4\n[[api.tokens]]", 1
    )
    limits = parse_api_settings(text, ENV).limits
    assert (limits.max_body_bytes, limits.max_stream_clients) == (1024, 4)


def test_the_roles_a_file_may_name_are_the_api_roles() -> None:
    assert tuple(role.name.lower() for role in Role) == ROLES
    assert typing.get_args(TokenTable.model_fields["role"].annotation) == ROLES
