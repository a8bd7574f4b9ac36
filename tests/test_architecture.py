"""The structure docs/architecture.md describes, held by tests rather than by memory.

import-linter (`make lint`) checks the layers between packages; these tests check what it
cannot: where transactions are committed, where a `portal` import may hide inside a function,
and how long a module may grow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PORTAL = Path(__file__).resolve().parent.parent / "portal"

#: The only functions that may call `commit()`: each is the use case a face (or the CLI, or a
#: worker) calls, and owns its unit of work (docs/architecture.md, "Transactions"). Everything
#: they call, and every view, joins the caller's transaction instead.
COMMITTERS: dict[str, set[str]] = {
    # The unit-of-work context manager itself (`with db.transaction():`).
    "portal.db": {"Database.transaction"},
    # The composition root: each command is its own unit of work.
    "portal.cli": {
        "create_api_key_command",
        "create_firm_command",
        "demo_command",
        "revoke_api_key_command",
    },
    # The firm's settings and API keys (the API calls these; the console will).
    "portal.firms.branding": {"remove_logo", "set_branding", "set_logo", "set_origins"},
    "portal.firms.services": {"record_key_use"},
    # The console's API keys: create (shown once) and revoke, each its own unit of work.
    "portal.firms.keys": {"create_key", "revoke_key"},
    "portal.firms.settings": {"update_firm_settings"},
    # The back office's sync: one batch, one unit of work (retried on an insert race).
    "portal.backoffice.services": {"sync"},
    "portal.backoffice.lists": {"sync_lists"},
    # Links: issue and revoke (the firm), open and ask for a fresh one (the client).
    "portal.links.issuing": {"create_link", "revoke"},
    "portal.links.services": {"open_link"},
    "portal.links.fresh": {"request_fresh_link"},
    # Trust requests the firm creates, cancels, resends; the firm's evergreen mode.
    "portal.trust_requests.services": {"cancel", "create_request", "resend", "set_evergreen_mode"},
    # Money: commit before and after each processor call, never across one.
    "portal.payments.checkout": {"submit_plan"},
    # Saved payers and methods: commit before and after each processor call (save, detach).
    # Consent taken by phone before a charge (the console's "this payment only") too.
    "portal.payers.services": {
        "_remove",
        "add_payer",
        "attach_payer",
        "payer_once",
        "record_consent",
        "save_method",
    },
    # A charge the firm starts: after submit_plan, the link emailed when the bank asks.
    "portal.payments.firm_charges": {"_send_link_if_authentication_asked"},
    "portal.payments.authentication": {"answer_test_bank"},
    # The review page keeps the basket it shows (grace after expiry, the fresh link's basket).
    "portal.payments.kept_baskets": {"keep_review"},
    # Make a payment in the console: each staff user's criteria and ticks, kept between pages
    # (the console's steps 1 and 2 call these; paying or sending clears the ticks).
    "portal.payments.drafts": {"clear_selection", "save_criteria", "update_ticks"},
    "portal.payments.refunds": {"refund_payment"},
    # The console's "Resend the receipt": the email is queued in the outbox, then committed.
    "portal.payments.receipt_emails": {"resend_receipt"},
    "portal.payments.unanswered": {
        "_waiting",
        "cancel_abandoned_authentications",
        "settle_pending_refunds",
        "settle_unanswered_charges",
    },
    # A person applies an unmatched payment: allocation, money, flag, posting and audit at once.
    "portal.payments.unmatched": {"apply_unmatched"},
    "portal.payments.events": {"apply_gateway_events", "receive_gateway_event"},
    # The firm's merchant account settings and going live on Stripe (a Stripe call between).
    "portal.payments.account_settings": {"start_stripe_onboarding", "update_merchant_account"},
    # The firm's operations on its webhook endpoints and messages, which the API calls.
    "portal.postings.endpoints": {
        "create_endpoint",
        "delete_endpoint",
        "ping_endpoint",
        "replay_to_endpoint",
        "rotate_endpoint_secret",
        "update_endpoint",
    },
    "portal.postings.outbox": {"purge_delivered", "release_held", "replay_message"},
    # The webhook worker: lease a batch, then (after the network) record it; a poisoned
    # delivery is failed in a unit of its own so the rest of the batch is still recorded.
    "portal.postings.sending": {"claim_batch"},
    "portal.postings.recording": {"_record_as_failed", "record_batch"},
    # Staff accounts: what an admin (or the CLI) does to users, what a person does to get in
    # (a failed sign-in commits its count before refusing), and the console's sessions.
    "portal.staff.accounts": {"change_role", "deactivate", "invite", "reactivate", "reset_mfa"},
    "portal.staff.signin": {
        "_fail",
        "accept_invitation",
        "complete_enrolment",
        "confirm_password",
        "enrolment_offer",
        "request_password_reset",
        "reset_password",
        "sign_in",
    },
    "portal.staff.sessions": {"end_session", "resume", "sign_out_everywhere"},
    # A staff user saves their own notification choices, audited, in one unit of work.
    "portal.notifications.choices": {"save_choices"},
    # The delivery worker's purge of old notified-event keys.
    "portal.notifications.sending": {"purge_notified"},
    # The email worker: lease, then (after SMTP) record; and its retention purge.
    "portal.mail.delivery": {"claim", "purge_finished", "record"},
}

#: Modules where a function may import from `portal` (the composition root: the app factory
#: and the CLI wire everything). Everywhere else imports sit at the top of the module, where
#: import-linter sees them and a cycle cannot hide.
LATE_IMPORTS: dict[str, str] = {
    "portal": (
        "create_app wires every face and extension; importing them when an app is made keeps "
        "`import portal` cheap and free of import cycles through the package root"
    ),
    "portal.cli": (
        "each command imports what it runs when it runs, so `flask --help` stays fast and one "
        "feature's import error cannot take every command (migrate, config-table) down with it"
    ),
}

#: Modules allowed past MAX_LINES because they are declarative (tables of fields, not logic).
DECLARATIVE: set[str] = set()
MAX_LINES = 500


def _modules() -> Iterator[tuple[str, ast.Module, int]]:
    for path in sorted(PORTAL.rglob("*.py")):
        name = ".".join(path.relative_to(PORTAL.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        text = path.read_text(encoding="utf-8")
        yield name, ast.parse(text), len(text.splitlines())


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Every function, with its dotted name inside the module (Class.method, outer.inner)."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                yield name, child
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")

    yield from walk(tree, "")


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of functions defined inside it."""
    for child in ast.iter_child_nodes(function):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        yield child
        yield from _own_nodes(child)


#: The calls that end a unit of work: `session.commit()`, and `db.transaction()`, whose `with`
#: block commits on leaving it, so opening one is committing.
COMMIT_CALLS = {"commit", "transaction"}


def _commits_in(tree: ast.Module) -> set[str]:
    """The functions of a module that commit themselves (not through a function they call)."""
    return {
        name
        for name, function in _functions(tree)
        for node in _own_nodes(function)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in COMMIT_CALLS
    }


def _commits() -> set[tuple[str, str]]:
    return {(module, name) for module, tree, _ in _modules() for name in _commits_in(tree)}


def test_a_transaction_block_counts_as_a_commit() -> None:
    tree = ast.parse(
        "def view():\n"
        "    with db.transaction():\n"
        "        helper()\n"
        "def use_case():\n"
        "    db.session.commit()\n"
        "def helper():\n"
        "    db.session.flush()\n"
        "    with db.session.no_autoflush:\n"
        "        pass\n"
    )
    assert _commits_in(tree) == {"view", "use_case"}


def test_only_use_case_services_commit() -> None:
    allowed = {(module, name) for module, names in COMMITTERS.items() for name in names}
    stray = sorted(f"{module}:{name}" for module, name in _commits() - allowed)
    assert not stray, (
        "commit() outside a use-case service (docs/architecture.md, Transactions): "
        f"{stray}; commit in the use case that calls it, or list it in COMMITTERS with why"
    )


def test_commit_list_names_real_committers() -> None:
    """A stale entry would let a future commit() slip in unnoticed."""
    listed = {(module, name) for module, names in COMMITTERS.items() for name in names}
    assert not sorted(listed - _commits())


def test_portal_imports_inside_functions_only_in_the_composition_root() -> None:
    late = []
    for module, tree, _ in _modules():
        if module in LATE_IMPORTS:
            continue
        for name, function in _functions(tree):
            for node in _own_nodes(function):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("portal"):
                    late.append(f"{module}:{name} imports {node.module}")
                elif isinstance(node, ast.Import) and any(
                    alias.name.startswith("portal") for alias in node.names
                ):
                    late.append(f"{module}:{name}")
    assert not late, f"move these imports to the top of their module: {late}"


def test_every_late_import_module_says_why() -> None:
    assert all(reason.strip() for reason in LATE_IMPORTS.values())


def test_modules_stay_small() -> None:
    long = sorted(
        f"{module} ({lines} lines)"
        for module, _, lines in _modules()
        if lines > MAX_LINES and module not in DECLARATIVE
    )
    assert not long, f"split these by job (docs/architecture.md): {long}"
