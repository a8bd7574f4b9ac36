"""Both gateways satisfy the Gateway Protocol: the same methods, with the same signatures."""

from __future__ import annotations

import inspect

import pytest

from portal.gateways.base import Gateway
from portal.gateways.sandbox import SandboxGateway
from portal.gateways.stripe import StripeGateway

PROTOCOL_METHODS = (
    "charge",
    "refund",
    "fetch",
    "find_charge",
    "fetch_refund",
    "authenticate",
    "cancel",
    "save_method",
    "remove_method",
    "parse_event",
    "publishable_key",
    "vault",
)


def test_the_protocol_is_what_these_tests_think_it_is() -> None:
    public = {
        name
        for name, member in vars(Gateway).items()
        if callable(member) and not name.startswith("_")
    }
    assert public == set(PROTOCOL_METHODS)
    assert "name" in Gateway.__annotations__


@pytest.mark.parametrize(("cls", "name"), [(SandboxGateway, "sandbox"), (StripeGateway, "stripe")])
@pytest.mark.parametrize("method", PROTOCOL_METHODS)
def test_gateway_matches_the_protocol(cls: type, name: str, method: str) -> None:
    assert cls.name == name
    expected = inspect.signature(getattr(Gateway, method))
    actual = inspect.signature(getattr(cls, method))
    assert [(p.name, p.kind, p.default, p.annotation) for p in actual.parameters.values()] == [
        (p.name, p.kind, p.default, p.annotation) for p in expected.parameters.values()
    ]
    assert actual.return_annotation == expected.return_annotation
