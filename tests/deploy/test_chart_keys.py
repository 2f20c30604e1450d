"""The chart gives the service its keys: generated once, given in values, or from a Secret."""

from __future__ import annotations

import base64

from service.settings import Settings
from tests.deploy.chart import FULLNAME, Manifest, find, render, server

KEYS = {"WITRYNA_SECRET_KEYS": "secret-keys", "WITRYNA_SITE_KEYS": "site-keys"}


def key_refs(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    env = server(manifests)["env"]
    return {v["name"]: v["valueFrom"]["secretKeyRef"] for v in env if v["name"] in KEYS}


def test_keys_are_generated_into_a_secret_the_server_reads() -> None:
    manifests = render()
    secret = find(manifests, "Secret", f"{FULLNAME}-keys")
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert values["secret-keys"].startswith("secret_")
    assert values["site-keys"].startswith("site_")
    settings = Settings.from_env(
        {"WITRYNA_SECRET_KEYS": values["secret-keys"], "WITRYNA_SITE_KEYS": values["site-keys"]}
    )
    assert settings.secret_key_list != settings.site_key_list
    refs = key_refs(manifests)
    assert refs == {name: {"name": f"{FULLNAME}-keys", "key": key} for name, key in KEYS.items()}


def test_keys_given_in_values_are_the_ones_served() -> None:
    manifests = render(
        "--set", "auth.secretKeys=secret_0123456789abcdef",
        "--set", "auth.siteKeys=site_0123456789abcdef",
    )  # fmt: skip
    data = find(manifests, "Secret", f"{FULLNAME}-keys")["data"]
    assert base64.b64decode(data["secret-keys"]) == b"secret_0123456789abcdef"
    assert base64.b64decode(data["site-keys"]) == b"site_0123456789abcdef"


def test_an_existing_secret_holds_the_keys_and_the_chart_makes_none() -> None:
    manifests = render("--set", "auth.existingSecret=shop-keys")
    assert f"{FULLNAME}-keys" not in [m["metadata"]["name"] for m in manifests]
    assert {ref["name"] for ref in key_refs(manifests).values()} == {"shop-keys"}
