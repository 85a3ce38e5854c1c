"""Sharing levels and revoke, over the wire: which pool a claim draws from, and
the figures the events list for it."""

import pytest

from .wire import levels, statuses

pytestmark = pytest.mark.e2e


async def event_of(wire, outcome):
    [event_id] = outcome.events
    [event] = await wire.wait_for(
        wire.streams.events, lambda e: e["event_id"] == event_id
    )
    return event


class TestClaimAtASharingLevel:
    async def test_it_draws_from_the_nearest_funded_ancestor(
        self, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(),
            account.set_purchased(10),
            account.create("eng"),
            account.assign("eng", 3),
            account.create("web", under="eng"),
            account.create("qa", under="web"),
        )

        outcomes = await shared_wire.execute_all(
            account.claim("dana", at="qa"),
            account.claim("eli", at="web"),
            account.claim("fay", at="qa"),
            account.claim("gus", at="qa"),
        )

        assert statuses(outcomes) == [
            "accepted",
            "accepted",
            "accepted",
            "no_license_available",
        ]
        assert outcomes[-1].details == {
            "level": "eng",
            "product": "testops",
            "pool": 3,
            "assigned_users": 3,
        }

    async def test_its_event_lists_the_levels_up_to_the_funding_level_only(
        self, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(),
            account.set_purchased(10),
            account.create("eng"),
            account.assign("eng", 3),
            account.create("web", under="eng"),
            account.create("qa", under="web"),
        )

        claimed = await shared_wire.execute(account.claim("dana", at="qa"))

        assert levels(await event_of(shared_wire, claimed)) == {
            "qa": (None, None, 1, 2, "eng"),
            "web": (None, None, 1, 2, "eng"),
            "eng": (3, 3, 1, 2, "eng"),
        }

    async def test_organizations_without_dedicated_licenses_share_the_account_pool(
        self, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(),
            account.set_purchased(2),
            account.create("ops"),
            account.create("sales"),
        )

        outcomes = await shared_wire.execute_all(
            account.claim("dana", at="ops"),
            account.claim("eli", at="sales"),
            account.claim("fay"),
        )

        assert statuses(outcomes) == ["accepted", "accepted", "no_license_available"]
        assert outcomes[-1].details["level"] is None
        assert levels(await event_of(shared_wire, outcomes[1])) == {
            "sales": (None, None, 1, 0, None),
            None: (2, 2, 2, 0, None),
        }


class TestAssignBeneathASharingLevel:
    async def test_the_licenses_come_out_of_the_funded_ancestor_pool(
        self, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(),
            account.set_purchased(10),
            account.create("eng"),
            account.assign("eng", 3),
            account.create("web", under="eng"),
            account.create("team", under="web"),
        )

        assigned = await shared_wire.execute(account.assign("team", 2))

        assert levels(await event_of(shared_wire, assigned)) == {
            "team": (2, 2, 0, 2, "team"),
            "web": (None, None, 0, 1, "eng"),
            "eng": (3, 1, 0, 1, "eng"),
        }


class TestRevoke:
    async def test_the_organization_and_its_claims_move_to_the_parent_funding_level(
        self, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(),
            account.set_purchased(10),
            account.create("eng"),
            account.assign("eng", 3),
            account.claim("dana", at="eng"),
        )

        revoked = await shared_wire.execute(account.revoke("eng"))
        claimed = await shared_wire.execute(account.claim("eli", at="eng"))

        assert levels(await event_of(shared_wire, revoked)) == {
            "eng": (None, None, 1, 9, None),
            None: (10, 10, 1, 9, None),
        }
        assert levels(await event_of(shared_wire, claimed)) == {
            "eng": (None, None, 2, 8, None),
            None: (10, 10, 2, 8, None),
        }

    async def test_it_is_accepted_when_the_funding_level_has_nothing_left(
        self, shared_wire, account
    ):
        await shared_wire.execute_all(
            account.open_account(),
            account.set_purchased(2),
            account.create("eng"),
            account.assign("eng", 2),
            account.claim("dana", at="eng"),
            account.claim("eli", at="eng"),
        )

        revoked = await shared_wire.execute(account.revoke("eng"))
        refused = await shared_wire.execute(account.claim("fay"))

        assert revoked.accepted
        assert levels(await event_of(shared_wire, revoked))[None] == (
            2,
            2,
            2,
            0,
            None,
        )
        assert refused.reason == "no_license_available"
