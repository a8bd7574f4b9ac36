"""Command-line tasks: `flask --app portal <command>` (see `flask --app portal --help`)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from portal import config, schema
from portal.audit.services import CLI
from portal.db import db
from portal.firms import services as firms

log = logging.getLogger(__name__)


@click.command("create-firm")
@click.argument("name")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 currency.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: id, slug, api_key.")
def create_firm_command(name: str, currency: str, as_json: bool) -> None:
    """Create a firm with an operating and a trust merchant account, and an API key."""
    with db.transaction():
        try:
            firm = firms.create_firm(name, currency=currency.upper())
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="NAME") from None
        issued = firms.issue_api_key(firm, label="created with the firm", actor=CLI)
    if as_json:
        click.echo(json.dumps({"id": firm.id, "slug": firm.slug, "api_key": issued.secret}))
        return
    click.echo(f"Firm {firm.name!r} created: id {firm.id}, slug {firm.slug}")
    click.echo(f"API key (shown once, store it now): {issued.secret}")


@click.command("create-api-key")
@click.argument("firm_id", type=int)
@click.option("--label", default="", help="A note to tell keys apart.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="A scope the key may use (repeat it for several): sync, links, payments:read, "
    "payments:refund, settings, webhooks. Without any, the key has every scope.",
)
def create_api_key_command(firm_id: int, label: str, scopes: tuple[str, ...]) -> None:
    """Issue another API key for a firm and print it once."""
    from portal.firms.scopes import UnknownScope

    with db.transaction():
        try:
            issued = firms.issue_api_key(
                firms.firm_by_id(firm_id), label=label, scopes=scopes or None, actor=CLI
            )
        except UnknownScope as exc:
            raise click.BadParameter(str(exc), param_hint="--scope") from None
    click.echo(issued.secret)


@click.command("revoke-api-key")
@click.argument("prefix")
def revoke_api_key_command(prefix: str) -> None:
    """Revoke the API key that starts with PREFIX (the first 10 characters, as listed)."""
    from portal.firms.models import APIKey

    with db.transaction():
        keys = list(db.session.scalars(select(APIKey).where(APIKey.prefix == prefix[:10])))
        if len(keys) != 1:
            raise click.ClickException(
                "no key starts with that prefix" if not keys else "several keys share it"
            )
        firms.revoke_api_key(keys[0], actor=CLI)
    click.echo(f"Revoked key {keys[0].prefix}... of firm {keys[0].firm_id}.")


@click.command("list-api-keys")
@click.argument("firm_id", type=int)
def list_api_keys_command(firm_id: int) -> None:
    """List a firm's API keys by prefix (the keys themselves are never stored)."""
    from portal.firms.models import APIKey

    for key in db.session.scalars(
        select(APIKey).where(APIKey.firm_id == firm_id).order_by(APIKey.id)
    ):
        state = "revoked" if key.revoked_at else "active"
        used = key.last_used_at.isoformat() if key.last_used_at else "never"
        scopes = "every scope" if key.scopes is None else " ".join(key.scopes)
        click.echo(f"{key.prefix}...  {state:8} last used {used}  [{scopes}]  {key.label}")


@click.command("create-staff")
@click.argument("email")
@click.option("--firm", "firm_slug", required=True, help="The firm's slug (as in /pay/<slug>).")
@click.option("--role", type=click.Choice(["admin", "staff"]), default="admin", show_default=True)
@click.option(
    "--language",
    help="The language of the console's emails to them: en, es or fr (or en_US, es_US, "
    "fr_CA); left out, the portal's default (a re-invited person keeps theirs).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object: id, email, invitation_url."
)
def create_staff_command(
    email: str, firm_slug: str, role: str, language: str | None, as_json: bool
) -> None:
    """Invite a staff user to a firm's console; print the single-use invitation URL (24 hours)."""
    from portal import i18n
    from portal.audit.services import CLI
    from portal.errors import ValidationFailed
    from portal.firms.models import Firm
    from portal.staff import accounts

    firm = db.session.scalar(select(Firm).where(Firm.slug == firm_slug))
    if firm is None:
        raise click.BadParameter("no firm has that slug", param_hint="--firm")
    if language is None:
        chosen: str | None = accounts.KEEP_LANGUAGE
    else:
        chosen = i18n.closest_supported(language)
        if chosen is None:
            supported = ", ".join(i18n.SUPPORTED_LOCALES)
            raise click.BadParameter(f"choose one of {supported}", param_hint="--language")
    try:
        invited = accounts.invite(firm, email, role, CLI, send_email=False, language=chosen)
    except ValidationFailed as exc:
        detail = "; ".join(str(problem.get("detail")) for problem in exc.errors)
        raise click.BadParameter(detail, param_hint="EMAIL") from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "id": invited.user.id,
                    "email": invited.user.email,
                    "invitation_url": invited.invitation_url,
                }
            )
        )
        return
    click.echo(f"Invited {invited.user.email} ({role}) to {firm.name}'s console.")
    click.echo(f"Open this address within 24 hours (it works once): {invited.invitation_url}")


@click.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema to the newest migration."""
    schema.upgrade(db.engine)
    click.echo("Database is at the newest migration.")


@click.command("demo")
def demo_command() -> None:
    """Create the demo firm if the database has no firm, then print a client link and API key."""
    from portal import demo
    from portal.firms.models import Firm

    if not schema.is_at_head(db.engine):
        schema.upgrade(db.engine)
    seeded: int | None = None
    with db.transaction():
        if (db.session.scalar(select(func.count(Firm.id))) or 0) == 0:
            seeded = demo.seed().id
    if seeded is not None:
        demo.seed_saved_payer(seeded)  # its own units of work: the sandbox keeps the card
    with db.transaction():
        info = demo.quickstart_credentials()
    base = current_app.config["BASE_URL"]
    click.echo("")
    click.echo(f"MatterPay demo firm: {info.firm_name} (id {info.firm_id})")
    click.echo(
        f"  Client link for {info.client_name} (valid 24 hours; opens in {info.client_language},"
        f" the page header switches language): {info.link_url}"
    )
    click.echo(f"  API key for {base}/api/v1: {info.api_key}")
    click.echo(f"  API document: {base}/api/v1/openapi.json")
    click.echo(f"  The firm's console: {base}/console/sign-in")
    click.echo(f"    email {info.console_email}, password {info.console_password} (new each run)")
    if info.console_has_mfa:
        click.echo("    then the code from the authenticator app you set up")
    elif config.console_requires_mfa(current_app.config):
        click.echo("    then set up an authenticator app (CONSOLE_REQUIRE_MFA is on)")
    else:
        click.echo("    leave the code empty: in development the demo admin needs no authenticator")
    click.echo("")


@click.command("sandbox-settle")
@click.option(
    "--after",
    "after_seconds",
    type=int,
    default=None,
    help="Settle ACH debits processing at least this long (default: the setting).",
)
def sandbox_settle_command(after_seconds: int | None) -> None:
    """Settle the sandbox's processing ACH debits, as the banks would days later."""
    import datetime as dt

    from portal.firms.models import MerchantAccount
    from portal.gateways.sandbox import SandboxGateway
    from portal.payments import events as payments

    seconds = (
        current_app.config["SANDBOX_ACH_SETTLE_SECONDS"] if after_seconds is None else after_seconds
    )
    settled: list[str] = []
    account_ids = list(
        db.session.scalars(select(MerchantAccount.id).where(MerchantAccount.gateway == "sandbox"))
    )
    for account_id in account_ids:
        # The sandbox hands back its settlement events; payments applies them (and commits).
        events = SandboxGateway(account_id).settle_due(older_than=dt.timedelta(seconds=seconds))
        payments.apply_gateway_events(account_id, events)
        settled += list(dict.fromkeys(event.gateway_ref or "" for event in events))
    click.echo(f"Settled {len(settled)} sandbox ACH debit(s).")


@click.command("settle-unanswered")
@click.option(
    "--after",
    "after_seconds",
    type=int,
    default=None,
    help="Ask about charges and refunds waiting at least this long (default: 120 seconds).",
)
def settle_unanswered_command(after_seconds: int | None) -> None:
    """Ask the processors about charges and refunds they have not answered (the delivery
    worker does this every minute too)."""
    import datetime as dt

    from portal.payments import unanswered

    older = unanswered.ASK_AFTER if after_seconds is None else dt.timedelta(seconds=after_seconds)
    settled = unanswered.settle_unanswered_charges(older_than=older)
    settled += unanswered.settle_pending_refunds(older_than=older)
    for item in settled:
        click.echo(f"  {item.ref}: {item.status}")
    click.echo(f"Settled {len(settled)} unanswered charge(s) and refund(s).")


class _Stop:
    """SIGTERM or Ctrl-C ask a worker to stop once the delivery in hand is done."""

    def __init__(self) -> None:
        import signal
        import threading

        self.event = threading.Event()
        self._signal = signal
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _Stop:
        for sig in (self._signal.SIGTERM, self._signal.SIGINT):
            self._previous[sig] = self._signal.signal(sig, self._ask)
        return self

    def _ask(self, _signum: int, _frame: object) -> None:
        self.event.set()

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            self._signal.signal(sig, handler)  # type: ignore[arg-type]


_ONCE_HELP = "Send what is due now, then exit (for cron) instead of running on."
_IDLE_HELP = "Seconds to wait before looking again when nothing is due."


@click.command("deliver-webhooks")
@click.option("--once", is_flag=True, help=_ONCE_HELP)
@click.option("--idle-sleep", type=float, default=5.0, show_default=True, help=_IDLE_HELP)
@click.option(
    "--email/--no-email",
    default=True,
    show_default=True,
    help="Also send due email from the outbox in the same loop (see deliver-email).",
)
def deliver_webhooks_command(once: bool, idle_sleep: float, email: bool) -> None:
    """Send due postings to firms' webhook endpoints, and due email, retrying on schedule.

    Several workers may run at once. SIGTERM (or Ctrl-C) lets the delivery in hand finish,
    and then the worker exits. One such worker is all a deployment needs: it sends email
    too, unless --no-email (then run deliver-email beside it), and asks the processors
    about charges and refunds it has not answered once a minute (see settle-unanswered).
    Hourly it purges delivered postings, finished email and old notified-event keys (each
    kept for its *_RETENTION_DAYS).
    """
    from portal import mail
    from portal.notifications.sending import purge_notified
    from portal.payments import unanswered
    from portal.postings import delivery, network, outbox

    worker_id = mail.worker_name()
    next_purge = next_refunds = 0.0
    total = 0
    log.info("delivery worker %s started", worker_id, extra={"worker": worker_id})
    sender = network.Sender()  # connections kept alive from one batch to the next
    with _Stop() as stop:
        try:
            while not stop.event.is_set():
                try:
                    if time.monotonic() >= next_refunds:
                        # Charges and refunds whose processor answer was lost or pending.
                        unanswered.settle_all()
                        next_refunds = time.monotonic() + 60
                    if time.monotonic() >= next_purge:
                        outbox.purge_delivered()
                        purge_notified()
                        if email:
                            mail.purge_finished()
                        next_purge = time.monotonic() + 3600
                    sent = delivery.deliver_due(
                        worker_id, should_stop=stop.event.is_set, sender=sender
                    )
                    if email:
                        sent += _deliver_email(worker_id, stop.event.is_set)
                except Exception:
                    # One bad round (the database away, a bug) must not stop every firm's
                    # postings or email: log it and try again after the idle wait.
                    log.exception(
                        "delivery round failed; trying again", extra={"worker": worker_id}
                    )
                    db.session.rollback()
                    sent = 0
                total += sent
                db.session.close()
                if once:
                    break
                if sent == 0:
                    stop.event.wait(idle_sleep)
        finally:
            sender.close()
    log.info(
        "delivery worker %s stopped after %s attempt(s)",
        worker_id,
        total,
        extra={"worker": worker_id, "attempts": total},
    )
    click.echo(f"Made {total} delivery attempt(s).")


def _deliver_email(worker_id: str, should_stop: Callable[[], bool]) -> int:
    """One pass over due email; a broken mail setup or database hiccup never kills the loop."""
    from portal import mail

    try:
        return mail.deliver_due(worker_id, should_stop=should_stop)
    except Exception:
        log.exception("email delivery pass failed; trying again on the next pass")
        db.session.rollback()
        return 0


@click.command("deliver-email")
@click.option("--once", is_flag=True, help=_ONCE_HELP)
@click.option("--idle-sleep", type=float, default=5.0, show_default=True, help=_IDLE_HELP)
def deliver_email_command(once: bool, idle_sleep: float) -> None:
    """Send due email from the outbox (receipts, links, alerts), retrying on schedule.

    Only needed beside `deliver-webhooks --no-email`, or to run email on its own workers:
    `deliver-webhooks` sends email too. Several workers may run at once; SIGTERM (or Ctrl-C)
    lets the batch in hand finish, and then the worker exits.
    """
    from portal import mail

    worker_id = mail.worker_name()
    next_purge = 0.0
    total = 0
    log.info("email worker %s started", worker_id, extra={"worker": worker_id})
    with _Stop() as stop:
        while not stop.event.is_set():
            if time.monotonic() >= next_purge:
                mail.purge_finished()
                next_purge = time.monotonic() + 3600
            sent = _deliver_email(worker_id, stop.event.is_set)
            total += sent
            db.session.close()
            if once:
                break
            if sent == 0:
                stop.event.wait(idle_sleep)
    log.info(
        "email worker %s stopped after %s attempt(s)",
        worker_id,
        total,
        extra={"worker": worker_id, "attempts": total},
    )
    click.echo(f"Made {total} email attempt(s).")


@click.command("config-table")
@click.option(
    "--write",
    "readme",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Replace the table in this markdown file (the README) instead of printing it.",
)
def config_table_command(readme: Path | None) -> None:
    """Print the configuration table (markdown) for the README, or rewrite it in place."""
    from portal.config import settings

    header = "| Setting | Environment variable | Default | What it does |"
    rows = [header, "|---|---|---|---|"]
    rows += [f"| `{n}` | `PORTAL_{n}` | `{d}` | {doc} |" for n, d, doc in settings()]
    if readme is None:
        click.echo("\n".join(rows))
        return
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = lines.index(header)
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines[start:end] = rows
    readme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    click.echo(f"rewrote the configuration table in {readme}")


def init_app(app: Flask) -> None:
    for command in (
        create_firm_command,
        create_api_key_command,
        revoke_api_key_command,
        list_api_keys_command,
        create_staff_command,
        migrate_command,
        demo_command,
        sandbox_settle_command,
        settle_unanswered_command,
        deliver_webhooks_command,
        deliver_email_command,
        config_table_command,
    ):
        app.cli.add_command(command)
