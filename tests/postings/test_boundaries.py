"""The outbox is an adapter: portal.postings imports only portal.firms, the audit log and core
modules.

Features build their events (portal.payments.postings, portal.trust_requests.postings,
portal.links.postings) and hand them to `portal.postings.outbox.enqueue`; the outbox never
reads their rows, so it imports none of them, at the top of a module or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import portal.postings

#: What the outbox may import from portal: core modules, the audit log (the firm's changes to
#: its endpoints are audited), firms, and itself.
ALLOWED = {
    "portal",
    "portal.audit",
    "portal.clock",
    "portal.config",
    "portal.db",
    "portal.errors",
    "portal.ids",
    "portal.mail",
    "portal.templating",
    "portal.firms",
    "portal.postings",
}


def _portal_imports(source: str) -> list[str]:
    """Every portal module (or name in one) a module imports, at any depth of its code."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found.extend(name for name in names if name.split(".")[0] == "portal")
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.split(".")[0] == "portal")
    return found


def _outside(source: str) -> list[str]:
    return [
        name for name in _portal_imports(source) if ".".join(name.split(".")[:2]) not in ALLOWED
    ]


def test_postings_imports_only_firms_and_core() -> None:
    folder = Path(portal.postings.__file__).parent
    wrong = {
        path.name: names
        for path in sorted(folder.glob("*.py"))
        if (names := _outside(path.read_text(encoding="utf-8")))
    }
    assert wrong == {}


def test_the_check_sees_feature_imports_anywhere() -> None:
    source = (
        "from portal import clock, payments\n"
        "def f():\n    from portal.trust_requests.models import TrustRequest\n"
        "import portal.links.models\n"
    )
    assert sorted(_outside(source)) == [
        "portal.links.models",
        "portal.payments",
        "portal.trust_requests.models",
        "portal.trust_requests.models.TrustRequest",
    ]
