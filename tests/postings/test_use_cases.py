"""The webhook use cases a face calls: the firm's id and public ids in, one commit each.

The API's routes (tests/api/test_webhooks.py) render these; here they are called the way
another face (the staff console) will, with no request around them.
"""

from __future__ import annotations

import pytest

from portal.audit.services import Actor
from portal.db import db
from portal.errors import Conflict, NotFound
from portal.postings import endpoints, outbox
from portal.postings.models import MessageStatus, WebhookEndpoint
from portal.postings.network import UnsafeTarget
from tests import factories
from tests.postings.conftest import Clock

#: Who acts in these tests: a staff user, as the console will call these use cases.
ACTOR = Actor.staff(7)

pytestmark = pytest.mark.usefixtures("webhook_settings")
URL = "http://127.0.0.1:9/hooks"


def test_an_endpoint_is_run_by_the_firms_id_and_its_public_id(
    session, firm: factories.FirmWithKey, clock: Clock
) -> None:
    firm_id = firm.firm.id
    endpoint = endpoints.create_endpoint(
        firm_id=firm_id, url=URL, event_types=["ping"], actor=ACTOR
    )
    public_id = endpoint.public_id
    assert endpoint.secret.startswith("whsec_")

    paused = endpoints.update_endpoint(
        firm_id=firm_id,
        public_id=public_id,
        enabled=False,
        pause_reason="Paused by staff.",
        actor=ACTOR,
    ).endpoint
    assert (paused.is_active, paused.disabled_reason) == (False, "Paused by staff.")
    resumed = endpoints.update_endpoint(
        firm_id=firm_id, public_id=public_id, description="Books", enabled=True, actor=ACTOR
    ).endpoint
    assert (resumed.is_active, resumed.description) == (True, "Books")

    rotation = endpoints.rotate_endpoint_secret(firm_id=firm_id, public_id=public_id, actor=ACTOR)
    assert rotation.secret == endpoint.secret != endpoint.previous_secret
    assert rotation.previous_secret_expires_at == clock() + endpoints.ROTATION_OVERLAP

    ping = endpoints.ping_endpoint(firm_id=firm_id, public_id=public_id)
    assert ping.endpoint_id == endpoint.id
    replay = endpoints.replay_to_endpoint(
        firm_id=firm_id, public_id=public_id, since=clock.advance(seconds=-1)
    )
    assert [m.public_id for m in replay.messages] == [ping.public_id]

    endpoints.delete_endpoint(firm_id=firm_id, public_id=public_id, actor=ACTOR)
    assert db.session.get(WebhookEndpoint, endpoint.id) is None


def test_another_firms_ids_are_not_found(
    session, firm: factories.FirmWithKey, other_firm: factories.FirmWithKey
) -> None:
    endpoint = endpoints.create_endpoint(firm_id=firm.firm.id, url=URL, actor=ACTOR)
    ping = endpoints.ping_endpoint(firm_id=firm.firm.id, public_id=endpoint.public_id)
    stranger = other_firm.firm.id
    with pytest.raises(NotFound):
        endpoints.update_endpoint(
            firm_id=stranger, public_id=endpoint.public_id, enabled=False, actor=ACTOR
        )
    with pytest.raises(NotFound):
        endpoints.delete_endpoint(firm_id=stranger, public_id=endpoint.public_id, actor=ACTOR)
    with pytest.raises(NotFound):
        outbox.replay_message(firm_id=stranger, public_id=ping.public_id)
    assert outbox.release_held(firm_id=stranger, message_ids=[ping.public_id]) == []
    assert endpoint.is_active


def test_a_refused_change_saves_nothing(session, firm: factories.FirmWithKey) -> None:
    endpoint = endpoints.create_endpoint(
        firm_id=firm.firm.id, url=URL, description="Books", actor=ACTOR
    )
    with pytest.raises(UnsafeTarget):
        endpoints.update_endpoint(
            firm_id=firm.firm.id,
            public_id=endpoint.public_id,
            description="Changed",
            url="ftp://example.com/",
            actor=ACTOR,
        )
    db.session.expire_all()
    assert endpoint.description == "Books"


def test_held_postings_are_released_not_replayed(
    session, firm: factories.FirmWithKey, clock: Clock
) -> None:
    endpoint = endpoints.create_endpoint(firm_id=firm.firm.id, url=URL, actor=ACTOR)
    with db.transaction():  # as the feature that queued it would
        held = outbox.enqueue(
            firm_id=firm.firm.id, event_type="ping", data={"message": "held"}, held=True
        )
    with pytest.raises(Conflict):
        outbox.replay_message(firm_id=firm.firm.id, public_id=held.public_id)
    (released,) = outbox.release_held(firm_id=firm.firm.id)
    assert released.status is MessageStatus.PENDING
    resent = outbox.replay_message(firm_id=firm.firm.id, public_id=held.public_id)
    assert (resent.message, resent.endpoints) == (held, [endpoint])
