from __future__ import annotations

import subprocess
import sys

import pytest

from service.errors import ConfigError
from service.settings import Settings
from tests._support.stack import ROOT


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({"PATH": "/usr/bin"})
    assert settings.redis_url is None
    assert (settings.host, settings.port, settings.history_len) == ("127.0.0.1", 8000, 50)


def test_values_are_converted_from_strings() -> None:
    settings = Settings.from_env(
        {"WITRYNA_PORT": "9001", "WITRYNA_REDIS_URL": "redis://h:1/0", "WITRYNA_DEVICE": "cpu"}
    )
    assert settings.port == 9001
    assert settings.redis_url == "redis://h:1/0"
    assert settings.device == "cpu"


def test_settings_are_immutable() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WITRYNA_PORT": "eighty"}, "WITRYNA_PORT"),
        ({"WITRYNA_PORT": "70000"}, "WITRYNA_PORT"),
        ({"WITRYNA_HISTORY_LEN": "0"}, "WITRYNA_HISTORY_LEN"),
        ({"WITRYNA_DEVICE": "tpu"}, "WITRYNA_DEVICE"),
        ({"WITRYNA_REDIS_ULR": "redis://x"}, "WITRYNA_REDIS_ULR: unknown setting"),
        ({"WITRYNA_CORS_ORIGINS": "https://ok.example,shop.example/"}, "WITRYNA_CORS_ORIGINS"),
        ({"WITRYNA_SDK_TIMEOUT_MS": "0"}, "WITRYNA_SDK_TIMEOUT_MS"),
    ],
)
def test_a_bad_environment_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WITRYNA_DEVICE": "tpu"}, "WITRYNA_DEVICE='tpu': expected one of auto, cpu, cuda"),
        (
            {"WITRYNA_LOG_LEVEL": "loud"},
            "WITRYNA_LOG_LEVEL='loud': expected one of DEBUG, ERROR, INFO, WARNING",
        ),
        (
            {"WITRYNA_DEMO": "yes"},
            "WITRYNA_DEMO='yes': expected a boolean: 1, 0, true or false (any case)",
        ),
        ({"WITRYNA_PROT": "8001"}, "WITRYNA_PROT: unknown setting; did you mean WITRYNA_PORT?"),
        (
            {"WITRYNA_WOKERS": "2"},
            "WITRYNA_WOKERS: unknown setting; did you mean WITRYNA_WORKERS?",
        ),
        (
            {"WITRYNA_XYZZY": "1"},
            "WITRYNA_XYZZY: unknown setting; see docs/operations.md#settings",
        ),
        # msgspec's path to the field is left out: the variable names it.
        ({"WITRYNA_PORT": "70000"}, "WITRYNA_PORT='70000': Expected `int` <= 65535"),
    ],
)
def test_a_bad_setting_says_what_it_takes(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert raised.value.detail == message


def test_serve_refuses_to_start_with_a_bad_environment() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        env={"PATH": "/usr/bin:/bin", "WITRYNA_PORT": "eighty"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "WITRYNA_PORT='eighty'" in result.stderr


def test_keys_are_lists_and_a_bad_one_is_named_but_never_echoed() -> None:
    settings = Settings.from_env(
        {"WITRYNA_SECRET_KEYS": "secret_aaaaaaaaaaaaaaaa, secret_bbbbbbbbbbbbbbbb"}
    )
    assert settings.secret_key_list == ["secret_aaaaaaaaaaaaaaaa", "secret_bbbbbbbbbbbbbbbb"]
    with pytest.raises(ConfigError) as short:
        Settings.from_env({"WITRYNA_SECRET_KEYS": "tooshort-secret"})
    assert "WITRYNA_SECRET_KEYS" in short.value.detail
    assert "tooshort-secret" not in short.value.detail
    same = "shared_key_0123456789"
    with pytest.raises(ConfigError, match="both a secret key and a site key"):
        Settings.from_env({"WITRYNA_SECRET_KEYS": same, "WITRYNA_SITE_KEYS": same})
