"""The money packages keep their boundaries: who imports whom, and who may commit.

Read from the source with `ast`, so a function-level import or a commit in a helper counts too.
The face modules still inside these packages (payments/views.py, payments/forms.py and
gateways/views.py) are left out: they move to the face packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parents[2] / "portal"
FACES = {"payments/views.py", "payments/forms.py", "gateways/views.py"}
#: The use cases a face calls, the only functions in these packages that commit or roll back.
TRANSACTION_OWNERS = {
    ("payments/checkout.py", "submit_plan"),
    ("payments/refunds.py", "refund_payment"),
    ("payments/events.py", "receive_gateway_event"),
    ("payments/events.py", "apply_gateway_events"),
}
CORE = {
    "portal.clock",
    "portal.config",
    "portal.db",
    "portal.errors",
    "portal.ids",
    "portal.money",
}


def _modules(*packages: str) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        for path in sorted((PORTAL / package).glob("*.py")):
            name = path.relative_to(PORTAL).as_posix()
            if name not in FACES:
                yield name, ast.parse(path.read_text(), filename=str(path))


def _cases(*packages: str, only: str | None = None) -> list[tuple[str, ast.Module]]:
    return [(name, tree) for name, tree in _modules(*packages) if only in (None, name)]


def _ids(value: object) -> str:
    return value if isinstance(value, str) else ""


def _imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _under(names: set[str], prefix: str) -> set[str]:
    return {name for name in names if name == prefix or name.startswith(prefix + ".")}


@pytest.mark.parametrize(("name", "tree"), _cases("gateways"), ids=_ids)
def test_gateways_never_import_payments(name: str, tree: ast.Module) -> None:
    assert not _under(_imports(tree), "portal.payments"), name


@pytest.mark.parametrize(("name", "tree"), _cases("payments"), ids=_ids)
def test_payments_reach_processors_only_through_the_protocol(name: str, tree: ast.Module) -> None:
    imported = _imports(tree)
    past = {
        n for n in imported if n.startswith(("portal.gateways.stripe", "portal.gateways.sandbox"))
    }
    assert not past, name


def test_only_billing_models_firms_and_core_under_invoice_balances() -> None:
    (tree,) = [tree for name, tree in _modules("billing") if name == "billing/balances.py"]
    for name in _imports(tree):
        if name.startswith("portal"):
            assert name in ("portal", "portal.clock", "portal.db") or name.startswith(
                ("portal.billing.models", "portal.firms", *(f"{c}." for c in CORE))
            ), name


def _transaction_calls(tree: ast.Module) -> Iterator[tuple[str | None, int]]:
    """(enclosing top-level function, line) of every `.commit()` or `.rollback()` call."""
    for top in tree.body:
        owner = top.name if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef) else None
        for node in ast.walk(top):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback")
            ):
                yield owner, node.lineno


@pytest.mark.parametrize(
    ("name", "tree"),
    [*_cases("payments", "gateways", "ledger"), *_cases("billing", only="billing/balances.py")],
    ids=_ids,
)
def test_only_the_use_cases_commit(name: str, tree: ast.Module) -> None:
    for owner, line in _transaction_calls(tree):
        assert (name, owner) in TRANSACTION_OWNERS, f"{name}:{line} in {owner}"


def test_the_owners_listed_exist() -> None:
    found = {
        (name, owner)
        for name, tree in _modules("payments")
        for owner, _ in _transaction_calls(tree)
    }
    assert found == TRANSACTION_OWNERS


@pytest.mark.parametrize(("name", "tree"), _cases("payments", "gateways", "ledger"), ids=_ids)
def test_modules_are_split_by_job(name: str, tree: ast.Module) -> None:
    lines = (PORTAL / name).read_text().count("\n")
    assert lines <= 500, f"{name} has {lines} lines"
