"""Who may do what, over the wire: users for themselves, account admins for the
account, trusted services for purchases and accounts."""

import pytest

from store.documents import BILLING, user

from .wire import statuses

pytestmark = pytest.mark.e2e


@pytest.fixture
async def opened(shared_wire, account):
    """An account of 5 licenses with one organization, qa; ada is its admin."""
    await shared_wire.execute_all(
        account.open_account("ada"),
        account.set_purchased(5),
        account.create("qa"),
    )
    return account


class TestClaimAndRelease:
    async def test_a_user_may_claim_and_release_for_themself(self, shared_wire, opened):
        outcomes = await shared_wire.execute_all(
            opened.claim("dana", at="qa"), opened.release("dana")
        )

        assert statuses(outcomes) == ["accepted", "accepted"]

    async def test_a_user_may_not_claim_for_someone_else(self, shared_wire, opened):
        refused = await shared_wire.execute(opened.claim("eli", at="qa", by="dana"))
        nothing_held = await shared_wire.execute(opened.release("eli"))

        assert refused.reason == "not_authorized"
        assert nothing_held.reason == "not_claimed"

    async def test_a_user_may_not_release_someone_elses_license(
        self, shared_wire, opened
    ):
        await shared_wire.execute(opened.claim("eli", at="qa"))

        refused = await shared_wire.execute(opened.release("eli", by="dana"))
        again = await shared_wire.execute(opened.claim("eli", at="qa"))

        assert refused.reason == "not_authorized"
        assert again.accepted
        assert again.events == []

    async def test_an_account_admin_may_claim_and_release_for_anyone(
        self, shared_wire, opened
    ):
        outcomes = await shared_wire.execute_all(
            opened.claim("eli", at="qa", by="ada"), opened.release("eli", by="ada")
        )

        assert statuses(outcomes) == ["accepted", "accepted"]


class TestAccountAdministration:
    async def test_a_plain_user_may_not_assign_licenses(self, shared_wire, opened):
        refused = await shared_wire.execute(opened.assign("qa", 1, by="dana"))

        assert refused.reason == "not_authorized"

    async def test_a_plain_user_may_not_create_organizations(self, shared_wire, opened):
        refused = await shared_wire.execute(opened.create("ops", by="dana"))

        assert refused.reason == "not_authorized"

    async def test_an_account_admin_may_assign_licenses(self, shared_wire, opened):
        assert (await shared_wire.execute(opened.assign("qa", 1, by="ada"))).accepted


class TestPurchasesAndAccounts:
    async def test_an_account_admin_may_not_set_purchased(self, shared_wire, opened):
        refused = await shared_wire.execute(opened.set_purchased(100, by=user("ada")))

        assert refused.reason == "not_authorized"
        assert refused.details == {"needs": "a trusted service"}

    async def test_a_user_may_not_open_an_account(self, shared_wire, account):
        refused = await shared_wire.execute(account.open_account(by=user("ada")))
        unknown = await shared_wire.execute(account.set_purchased(1, by=BILLING))

        assert refused.reason == "not_authorized"
        assert unknown.reason == "unknown_account"
