"""The licensing rules, command by command, on worked examples."""

import pytest

from licensing.domain import Account, handle
from licensing.domain.audit import violations
from licensing_contracts import Reason

from .builders import (
    ADMIN,
    BILLING,
    AccountBuilder,
    assign,
    claim,
    create,
    delete,
    figures,
    grant_admin,
    listed,
    move,
    open_account,
    refusal,
    release,
    revoke,
    revoke_admin,
    run,
    set_purchased,
    snapshot,
    user,
)


def assert_sound(account: Account) -> None:
    assert violations(account) == []


class TestTheSpecExamples:
    def test_four_organizations_take_their_licenses_out_of_the_account_pool(self):
        account = AccountBuilder().purchased(200).build()
        for org, quantity in [("web", 20), ("mobile", 10), ("qa", 1), ("data", 5)]:
            run(account, create(org), assign(org, quantity))

        assert figures(account, None) == (200, 164, 0, 164, None)
        for org, quantity in [("web", 20), ("mobile", 10), ("qa", 1), ("data", 5)]:
            assert figures(account, org) == (quantity, quantity, 0, quantity, org)
        assert_sound(account)

    def test_the_organization_with_one_license_accepts_one_claim_only(self):
        account = (
            AccountBuilder()
            .purchased(200)
            .organization("qa")
            .dedicated("qa", 1)
            .build()
        )

        run(account, claim("dana", at="qa"))
        refused = refusal(account, claim("erin", at="qa"))

        assert refused.reason is Reason.NO_LICENSE_AVAILABLE
        assert figures(account, "qa") == (1, 1, 1, 0, "qa")
        assert figures(account, None) == (200, 199, 0, 199, None)
        assert_sound(account)

    def test_a_parent_pool_is_what_it_has_not_handed_to_sub_organizations(self):
        account = (
            AccountBuilder()
            .purchased(200)
            .organization("eng")
            .dedicated("eng", 10)
            .organization("web", under="eng")
            .build()
        )

        run(account, assign("web", 5))
        assert figures(account, "eng") == (10, 5, 0, 5, "eng")

        run(account, create("mobile", under="eng"))
        refused = refusal(account, assign("mobile", 6))
        assert refused.reason is Reason.INSUFFICIENT_POOL
        assert refused.details["level"] == "eng"
        assert refused.details["available"] == 5

        run(account, assign("mobile", 5))
        assert figures(account, "eng") == (10, 0, 0, 0, "eng")
        assert figures(account, "mobile") == (5, 5, 0, 5, "mobile")
        assert_sound(account)


class TestSharingLevels:
    @pytest.fixture
    def account(self) -> Account:
        # account 100 -> eng (dedicated 10) -> web (sharing) -> frontend (sharing)
        return (
            AccountBuilder()
            .purchased(100)
            .organization("eng")
            .dedicated("eng", 10)
            .organization("web", under="eng")
            .organization("frontend", under="web")
            .build()
        )

    def test_a_sharing_level_shows_no_dedicated_nor_pool_and_names_its_funding_level(
        self, account
    ):
        assert figures(account, "web") == (None, None, 0, 10, "eng")

    def test_a_claim_at_a_sharing_level_is_charged_to_its_funding_level(self, account):
        run(account, claim("dana", at="web"))

        assert figures(account, "web") == (None, None, 1, 9, "eng")
        assert figures(account, "eng") == (10, 10, 1, 9, "eng")
        assert figures(account, None) == (100, 90, 0, 90, None)
        assert_sound(account)

    def test_a_sharing_level_counts_the_claims_of_sharing_levels_beneath_it(
        self, account
    ):
        run(account, claim("dana", at="frontend"), claim("erin", at="web"))

        assert figures(account, "frontend") == (None, None, 1, 8, "eng")
        assert figures(account, "web") == (None, None, 2, 8, "eng")
        assert figures(account, "eng") == (10, 10, 2, 8, "eng")
        assert_sound(account)

    def test_a_sharing_level_does_not_count_claims_beneath_a_funded_sub_level(
        self, account
    ):
        run(account, assign("frontend", 3), claim("dana", at="frontend"))

        assert figures(account, "frontend") == (3, 3, 1, 2, "frontend")
        assert figures(account, "web") == (None, None, 0, 7, "eng")
        assert figures(account, "eng") == (10, 7, 0, 7, "eng")
        assert_sound(account)

    def test_organizations_without_dedicated_licenses_share_the_account_pool(self):
        account = AccountBuilder().purchased(2).organization("ops").build()

        run(account, claim("dana", at="ops"), claim("erin"))

        assert figures(account, "ops") == (None, None, 1, 0, None)
        assert figures(account, None) == (2, 2, 2, 0, None)
        assert refusal(account, claim("fay", at="ops")).reason is (
            Reason.NO_LICENSE_AVAILABLE
        )
        assert_sound(account)

    def test_products_are_allocated_each_on_its_own(self):
        account = (
            AccountBuilder()
            .purchased(10, "testops")
            .purchased(1, "studio")
            .organization("qa")
            .dedicated("qa", 4, "testops")
            .claimed("dana", at="qa", product="studio")
            .build()
        )

        assert figures(account, "qa", "testops") == (4, 4, 0, 4, "qa")
        assert figures(account, "qa", "studio") == (None, None, 1, 0, None)
        assert figures(account, None, "testops") == (10, 6, 0, 6, None)
        assert_sound(account)


class TestAssign:
    @pytest.fixture
    def account(self) -> Account:
        return (
            AccountBuilder()
            .purchased(50)
            .organization("eng")
            .organization("web", under="eng")
            .build()
        )

    def test_the_quantity_is_absolute(self, account):
        run(account, assign("eng", 10), assign("eng", 4))

        assert figures(account, "eng") == (4, 4, 0, 4, "eng")
        assert figures(account, None) == (50, 46, 0, 46, None)
        assert_sound(account)

    def test_zero_is_a_real_limit_of_zero(self, account):
        run(account, assign("eng", 0))

        assert figures(account, "eng") == (0, 0, 0, 0, "eng")
        assert figures(account, "web") == (None, None, 0, 0, "eng")
        refused = refusal(account, claim("dana", at="web"))
        assert refused.reason is Reason.NO_LICENSE_AVAILABLE
        assert refused.details["level"] == "eng"
        assert_sound(account)

    def test_an_increase_beyond_the_parent_funding_level_available_is_refused(
        self, account
    ):
        run(account, claim("dana"))  # the account has 49 left
        before = snapshot(account)

        refused = refusal(account, assign("web", 50))

        assert refused.reason is Reason.INSUFFICIENT_POOL
        assert refused.details == {
            "level": None,
            "product": "testops",
            "pool": 50,
            "available": 49,
            "needed": 50,
        }
        assert snapshot(account) == before

    def test_the_parent_funding_level_may_be_an_ancestor_beyond_the_parent(
        self, account
    ):
        run(account, claim("dana", at="eng"))

        run(account, assign("web", 49))

        assert figures(account, "web") == (49, 49, 0, 49, "web")
        assert figures(account, "eng") == (None, None, 1, 0, None)
        assert figures(account, None) == (50, 1, 1, 0, None)
        assert_sound(account)

    def test_the_whole_available_can_be_given(self, account):
        run(account, assign("eng", 50))

        assert figures(account, None) == (50, 0, 0, 0, None)
        assert_sound(account)

    def test_an_increase_only_needs_the_difference(self, account):
        run(account, assign("eng", 30), assign("eng", 50))

        assert figures(account, "eng") == (50, 50, 0, 50, "eng")
        assert_sound(account)

    def test_a_quantity_below_what_the_organization_uses_is_refused(self, account):
        run(account, assign("eng", 10), assign("web", 3), claim("dana", at="eng"))
        before = snapshot(account)

        refused = refusal(account, assign("eng", 3))

        assert refused.reason is Reason.BELOW_USAGE
        assert refused.details["quantity"] == 3
        assert refused.details["in_use"] == 4
        assert snapshot(account) == before

    def test_a_quantity_equal_to_what_is_used_is_accepted(self, account):
        run(account, assign("eng", 10), assign("web", 3), claim("dana", at="eng"))

        run(account, assign("eng", 4))

        assert figures(account, "eng") == (4, 1, 1, 0, "eng")
        assert_sound(account)

    def test_a_sharing_level_becomes_funded_with_what_it_already_draws(self, account):
        run(account, claim("dana", at="web"), claim("erin", at="web"))

        run(account, assign("web", 2))

        assert figures(account, "web") == (2, 2, 2, 0, "web")
        assert figures(account, "eng") == (None, None, 0, 48, None)
        assert figures(account, None) == (50, 48, 0, 48, None)
        assert_sound(account)

    def test_a_sharing_level_cannot_be_given_less_than_it_draws(self, account):
        run(account, claim("dana", at="web"), claim("erin", at="web"))

        refused = refusal(account, assign("web", 1))

        assert refused.reason is Reason.BELOW_USAGE
        assert refused.details["in_use"] == 2

    def test_assigning_the_same_quantity_again_changes_nothing(self, account):
        run(account, assign("eng", 10))
        before = snapshot(account)

        assert run(account, assign("eng", 10)) == []
        assert snapshot(account) == before

    def test_an_unknown_organization_is_refused(self, account):
        refused = refusal(account, assign("sales", 1))

        assert refused.reason is Reason.UNKNOWN_ORGANIZATION
        assert refused.details == {"organization_id": "sales"}

    def test_the_event_lists_the_organization_and_its_parent_up_to_the_funding_level(
        self, account
    ):
        (event,) = run(account, assign("web", 7))

        assert event.type == "license.changed"
        assert event.product == "testops"
        assert event.change == {
            "kind": "assigned",
            "organization_id": "web",
            "quantity": 7,
            "previous": None,
        }
        assert [level.organization_id for level in event.levels] == [
            "web",
            "eng",
            None,
        ]
        assert listed(event)["web"] == account.figures("web", "testops")
        assert listed(event)["eng"].available == 43
        assert listed(event)[None].pool == 43
        assert_sound(account)


class TestRevoke:
    @pytest.fixture
    def account(self) -> Account:
        # account 100 -> eng (10) -> web (4) -> frontend (2), with claims
        account = (
            AccountBuilder()
            .purchased(100)
            .organization("eng")
            .dedicated("eng", 10)
            .organization("web", under="eng")
            .dedicated("web", 4)
            .organization("frontend", under="web")
            .dedicated("frontend", 2)
            .claimed("dana", at="web")
            .claimed("erin", at="frontend")
            .build()
        )
        return account

    def test_the_organization_becomes_a_sharing_level_of_its_funding_level(
        self, account
    ):
        run(account, revoke("web"))

        assert figures(account, "web") == (None, None, 1, 7, "eng")
        assert_sound(account)

    def test_its_claims_and_funded_sub_levels_are_charged_to_its_funding_level(
        self, account
    ):
        run(account, revoke("web"))

        # eng handed web 4; now it hands frontend 2 through web, and draws dana's
        assert figures(account, "eng") == (10, 8, 1, 7, "eng")
        assert figures(account, "frontend") == (2, 2, 1, 1, "frontend")
        assert_sound(account)

    def test_it_is_accepted_even_when_the_funding_level_has_nothing_left(self):
        account = (
            AccountBuilder()
            .purchased(3)
            .organization("eng")
            .dedicated("eng", 3)
            .claimed("dana", "erin", "fay", at="eng")
            .build()
        )

        run(account, revoke("eng"))

        assert figures(account, None) == (3, 3, 3, 0, None)
        assert figures(account, "eng") == (None, None, 3, 0, None)
        assert_sound(account)

    def test_revoking_a_sharing_level_changes_nothing(self, account):
        run(account, create("ops"))
        before = snapshot(account)

        assert run(account, revoke("ops")) == []
        assert snapshot(account) == before

    def test_the_event_names_the_previous_quantity(self, account):
        (event,) = run(account, revoke("frontend"))

        assert event.change == {
            "kind": "revoked",
            "organization_id": "frontend",
            "previous": 2,
        }
        assert [level.organization_id for level in event.levels] == [
            "frontend",
            "web",
        ]
        assert listed(event)["web"] == account.figures("web", "testops")
        assert listed(event)["web"].assigned_users == 2
        assert_sound(account)


class TestSetPurchased:
    def test_it_sets_the_account_dedicated_figure(self):
        account = AccountBuilder().purchased(10).build()

        (event,) = run(account, set_purchased(25))

        assert figures(account, None) == (25, 25, 0, 25, None)
        assert event.change == {"kind": "purchased", "quantity": 25, "previous": 10}
        assert event.levels == [account.figures(None, "testops")]
        assert_sound(account)

    def test_a_product_never_purchased_behaves_as_purchased_zero(self):
        account = AccountBuilder().build()

        assert figures(account, None, "studio") == (0, 0, 0, 0, None)
        refused = refusal(account, claim("dana", product="studio"))
        assert refused.reason is Reason.NO_LICENSE_AVAILABLE

    def test_a_total_below_what_the_pool_hands_out_plus_its_claims_is_refused(self):
        account = (
            AccountBuilder()
            .purchased(10)
            .organization("eng")
            .dedicated("eng", 6)
            .claimed("dana", "erin")
            .build()
        )
        before = snapshot(account)

        refused = refusal(account, set_purchased(7))

        assert refused.reason is Reason.BELOW_USAGE
        assert refused.details["in_use"] == 8
        assert snapshot(account) == before
        run(account, set_purchased(8))
        assert figures(account, None) == (8, 2, 2, 0, None)
        assert_sound(account)

    def test_setting_the_same_total_again_changes_nothing(self):
        account = AccountBuilder().purchased(10).build()

        assert run(account, set_purchased(10)) == []


class TestClaim:
    @pytest.fixture
    def account(self) -> Account:
        return (
            AccountBuilder()
            .purchased(10)
            .organization("qa")
            .dedicated("qa", 2)
            .organization("ops")
            .build()
        )

    def test_a_claim_takes_one_license_of_the_funding_level(self, account):
        (event,) = run(account, claim("dana", at="qa"))

        assert figures(account, "qa") == (2, 2, 1, 1, "qa")
        assert account.claims[("testops", "dana")] == "qa"
        assert event.change == {
            "kind": "claimed",
            "organization_id": "qa",
            "user_id": "dana",
        }
        assert event.levels == [account.figures("qa", "testops")]
        assert_sound(account)

    def test_a_claim_at_the_account_level_names_no_organization(self, account):
        (event,) = run(account, claim("dana", at=None))

        assert figures(account, None) == (10, 8, 1, 7, None)
        assert event.change["organization_id"] is None
        assert_sound(account)

    def test_the_event_of_a_claim_at_a_sharing_level_lists_up_to_its_funding_level(
        self, account
    ):
        (event,) = run(account, claim("dana", at="ops"))

        assert [level.organization_id for level in event.levels] == ["ops", None]
        assert listed(event)["ops"] == account.figures("ops", "testops")
        assert listed(event)[None].assigned_users == 1
        assert_sound(account)

    def test_a_user_holding_a_license_elsewhere_is_refused_and_told_where(
        self, account
    ):
        run(account, claim("dana", at="qa"))
        before = snapshot(account)

        refused = refusal(account, claim("dana", at="ops"))

        assert refused.reason is Reason.ALREADY_CLAIMED
        assert refused.details == {
            "user_id": "dana",
            "product": "testops",
            "level": "qa",
        }
        assert snapshot(account) == before

    def test_a_license_at_the_account_level_is_named_as_such(self, account):
        run(account, claim("dana"))

        refused = refusal(account, claim("dana", at="qa"))

        assert refused.reason is Reason.ALREADY_CLAIMED
        assert refused.details["level"] is None
        assert "the account" in refused.message

    def test_claiming_again_where_the_user_holds_it_is_accepted_and_changes_nothing(
        self, account
    ):
        run(account, claim("dana", at="qa"))
        before = snapshot(account)

        assert run(account, claim("dana", at="qa")) == []
        assert snapshot(account) == before

    def test_claiming_again_when_nothing_is_left_still_changes_nothing(self, account):
        run(account, claim("dana", at="qa"), claim("erin", at="qa"))

        assert run(account, claim("dana", at="qa")) == []
        assert_sound(account)

    def test_a_user_may_hold_one_license_of_each_product(self, account):
        run(account, set_purchased(1, "studio"), claim("dana", at="qa"))

        run(account, claim("dana", at="ops", product="studio"))

        assert account.claims[("studio", "dana")] == "ops"
        assert_sound(account)

    def test_no_license_available_names_the_funding_level_and_its_numbers(
        self, account
    ):
        run(account, claim("dana", at="qa"), claim("erin", at="qa"))

        refused = refusal(account, claim("fay", at="qa"))

        assert refused.reason is Reason.NO_LICENSE_AVAILABLE
        assert refused.details == {
            "level": "qa",
            "product": "testops",
            "pool": 2,
            "assigned_users": 2,
        }

    def test_an_unknown_organization_is_refused(self, account):
        refused = refusal(account, claim("dana", at="sales"))

        assert refused.reason is Reason.UNKNOWN_ORGANIZATION
        assert ("testops", "dana") not in account.claims

    def test_a_deleted_organization_is_unknown(self, account):
        run(account, delete("ops"))

        assert refusal(account, claim("dana", at="ops")).reason is (
            Reason.UNKNOWN_ORGANIZATION
        )


class TestRelease:
    @pytest.fixture
    def account(self) -> Account:
        return (
            AccountBuilder()
            .purchased(10)
            .organization("qa")
            .dedicated("qa", 1)
            .organization("web", under="qa")
            .claimed("dana", at="web")
            .build()
        )

    def test_a_release_frees_the_license_where_it_was_held(self, account):
        (event,) = run(account, release("dana"))

        assert ("testops", "dana") not in account.claims
        assert figures(account, "qa") == (1, 1, 0, 1, "qa")
        assert figures(account, "web") == (None, None, 0, 1, "qa")
        assert event.change == {
            "kind": "released",
            "organization_id": "web",
            "user_id": "dana",
        }
        assert [level.organization_id for level in event.levels] == ["web", "qa"]
        assert_sound(account)

    def test_the_freed_license_can_be_claimed_by_someone_else(self, account):
        assert refusal(account, claim("erin", at="qa")).reason is (
            Reason.NO_LICENSE_AVAILABLE
        )

        run(account, release("dana"), claim("erin", at="qa"))

        assert figures(account, "qa") == (1, 1, 1, 0, "qa")
        assert_sound(account)

    def test_a_user_who_holds_none_is_refused(self, account):
        refused = refusal(account, release("erin"))

        assert refused.reason is Reason.NOT_CLAIMED
        assert refused.details == {"user_id": "erin", "product": "testops"}

    def test_a_user_who_holds_another_product_only_is_refused(self, account):
        refused = refusal(account, release("dana", "studio"))

        assert refused.reason is Reason.NOT_CLAIMED
        assert account.claims[("testops", "dana")] == "web"


class TestCreateOrganization:
    def test_an_organization_is_created_under_the_account_or_an_organization(self):
        account = AccountBuilder().build()

        (created,) = run(account, create("eng"))
        run(account, create("web", under="eng"))

        assert created.type == "organization.changed"
        assert created.change == {
            "kind": "created",
            "organization_id": "eng",
            "parent_id": None,
            "name": "Eng team",
        }
        assert account.organization("web").parent_id == "eng"
        assert account.organization("web").depth == 2
        assert_sound(account)

    def test_an_unknown_parent_is_refused(self):
        account = AccountBuilder().build()

        refused = refusal(account, create("web", under="eng"))

        assert refused.reason is Reason.UNKNOWN_ORGANIZATION
        assert refused.details == {"organization_id": "eng"}
        assert account.organizations.get("web") is None

    def test_a_taken_id_is_refused(self):
        account = AccountBuilder().organization("eng").organization("web").build()

        refused = refusal(account, create("eng", under="web"))

        assert refused.reason is Reason.ALREADY_EXISTS
        assert account.organization("eng").parent_id is None

    def test_the_id_of_a_deleted_organization_can_be_used_again(self):
        account = AccountBuilder().organization("eng").build()

        run(account, delete("eng"), create("eng"))

        assert account.organization("eng").depth == 1
        assert_sound(account)

    def test_eight_levels_below_the_account_are_allowed_and_a_ninth_is_refused(self):
        builder = AccountBuilder()
        parent = None
        for depth in range(1, 9):
            builder.organization(f"level-{depth}", under=parent)
            parent = f"level-{depth}"
        account = builder.build()

        refused = refusal(account, create("level-9", under="level-8"))

        assert account.organization("level-8").depth == 8
        assert refused.reason is Reason.TOO_DEEP
        assert refused.details == {
            "organization_id": "level-9",
            "depth": 9,
            "max_depth": 8,
        }

    def test_the_depth_limit_is_the_one_the_account_was_opened_with(self):
        account = (
            AccountBuilder(max_depth=2)
            .organization("a")
            .organization("b", under="a")
            .build()
        )

        assert refusal(account, create("c", under="b")).reason is Reason.TOO_DEEP


class TestMoveOrganization:
    @pytest.fixture
    def account(self) -> Account:
        # account 100 -> eng (10) -> web (sharing, dana) -> frontend (3)
        #             -> sales (5)
        #             -> ops (sharing)
        return (
            AccountBuilder()
            .purchased(100)
            .organization("eng")
            .dedicated("eng", 10)
            .organization("web", under="eng")
            .organization("frontend", under="web")
            .dedicated("frontend", 3)
            .claimed("dana", at="web")
            .organization("sales")
            .dedicated("sales", 5)
            .organization("ops")
            .build()
        )

    def test_a_moved_subtree_is_charged_to_its_new_funding_level(self, account):
        run(account, move("web", under="sales"))

        assert figures(account, "eng") == (10, 10, 0, 10, "eng")
        assert figures(account, "sales") == (5, 2, 1, 1, "sales")
        assert figures(account, "web") == (None, None, 1, 1, "sales")
        assert account.organization("web").parent_id == "sales"
        assert account.organization("frontend").depth == 3
        assert_sound(account)

    def test_a_move_to_the_account_level_charges_the_account(self, account):
        run(account, move("web", under=None))

        assert figures(account, "web") == (None, None, 1, 81, None)
        assert figures(account, None) == (100, 82, 1, 81, None)
        assert account.organization("web").depth == 1
        assert account.organization("frontend").depth == 2
        assert_sound(account)

    def test_a_funded_organization_moves_with_its_dedicated_licenses(self, account):
        run(account, move("frontend", under="ops"))

        assert figures(account, "frontend") == (3, 3, 0, 3, "frontend")
        assert figures(account, "ops") == (None, None, 0, 82, None)
        assert figures(account, "eng") == (10, 10, 1, 9, "eng")
        assert figures(account, None) == (100, 82, 0, 82, None)
        assert_sound(account)

    def test_a_move_the_new_funding_level_cannot_absorb_is_refused_unchanged(
        self, account
    ):
        run(account, assign("sales", 3))
        before = snapshot(account)

        refused = refusal(account, move("web", under="sales"))

        assert refused.reason is Reason.INSUFFICIENT_POOL
        assert refused.details["level"] == "sales"
        assert refused.details["available"] == 3
        assert refused.details["needed"] == 4
        assert snapshot(account) == before
        assert_sound(account)

    def test_moving_under_itself_or_beneath_itself_is_a_cycle(self, account):
        before = snapshot(account)

        assert refusal(account, move("eng", under="eng")).reason is Reason.CYCLE
        assert refusal(account, move("eng", under="frontend")).reason is Reason.CYCLE
        assert snapshot(account) == before

    def test_a_move_that_makes_the_tree_too_deep_is_refused(self):
        builder = (
            AccountBuilder(max_depth=3).organization("a").organization("b", under="a")
        )
        account = builder.organization("x").organization("y", under="x").build()

        refused = refusal(account, move("x", under="b"))

        assert refused.reason is Reason.TOO_DEEP
        assert refused.details["depth"] == 4
        assert account.organization("y").depth == 2

    def test_an_unknown_organization_or_parent_is_refused(self, account):
        assert refusal(account, move("hr", under="eng")).reason is (
            Reason.UNKNOWN_ORGANIZATION
        )
        assert refusal(account, move("eng", under="hr")).reason is (
            Reason.UNKNOWN_ORGANIZATION
        )

    def test_moving_under_the_same_parent_changes_nothing(self, account):
        before = snapshot(account)

        assert run(account, move("web", under="eng")) == []
        assert snapshot(account) == before

    def test_the_events_name_the_move_and_list_both_sides(self, account):
        organization_event, license_event = run(account, move("web", under="ops"))

        moved = {
            "kind": "moved",
            "organization_id": "web",
            "parent_id": "ops",
            "previous_parent_id": "eng",
        }
        assert organization_event.type == "organization.changed"
        assert organization_event.change == moved
        assert license_event.type == "license.changed"
        assert license_event.change == moved
        assert list(listed(license_event)) == ["web", "ops", None, "eng"]
        for level, shown in listed(license_event).items():
            assert shown == account.figures(level, "testops")
        assert_sound(account)

    def test_moving_a_funded_organization_lists_the_new_parent_whose_pool_shrank(
        self, account
    ):
        _, license_event = run(account, move("frontend", under="sales"))

        assert figures(account, "sales") == (5, 2, 0, 2, "sales")
        assert listed(license_event).get("sales") == account.figures("sales", "testops")


class TestDeleteOrganization:
    def test_its_dedicated_licenses_go_back_to_its_funding_level(self):
        account = (
            AccountBuilder()
            .purchased(20)
            .organization("eng")
            .dedicated("eng", 10)
            .organization("web", under="eng")
            .dedicated("web", 4)
            .build()
        )

        organization_event, license_event = run(account, delete("web"))

        assert figures(account, "eng") == (10, 10, 0, 10, "eng")
        assert account.organizations.get("web") is None
        assert organization_event.change == {
            "kind": "deleted",
            "organization_id": "web",
            "parent_id": "eng",
        }
        assert license_event.levels == [account.figures("eng", "testops")]
        assert_sound(account)

    def test_an_organization_with_sub_organizations_is_not_empty(self):
        account = (
            AccountBuilder()
            .organization("eng")
            .organization("web", under="eng")
            .build()
        )

        refused = refusal(account, delete("eng"))

        assert refused.reason is Reason.NOT_EMPTY
        assert refused.details["sub_organizations"] == 1
        assert account.organization("eng").children == 1

    def test_an_organization_with_claims_is_not_empty(self):
        account = (
            AccountBuilder()
            .purchased(5)
            .organization("eng")
            .claimed("dana", at="eng")
            .build()
        )
        before = snapshot(account)

        refused = refusal(account, delete("eng"))

        assert refused.reason is Reason.NOT_EMPTY
        assert refused.details["claims"] == 1
        assert snapshot(account) == before

    def test_an_organization_emptied_of_claims_can_be_deleted(self):
        account = (
            AccountBuilder()
            .purchased(5)
            .organization("eng")
            .dedicated("eng", 2)
            .claimed("dana", at="eng")
            .build()
        )

        run(account, release("dana"), delete("eng"))

        assert figures(account, None) == (5, 5, 0, 5, None)
        assert_sound(account)

    def test_deleting_a_sharing_organization_sends_no_license_event(self):
        account = AccountBuilder().purchased(5).organization("eng").build()

        (only,) = run(account, delete("eng"))

        assert only.type == "organization.changed"
        assert_sound(account)

    def test_an_unknown_organization_is_refused(self):
        account = AccountBuilder().build()

        assert refusal(account, delete("eng")).reason is Reason.UNKNOWN_ORGANIZATION


class TestRoles:
    def test_a_granted_admin_may_manage_the_account(self):
        account = AccountBuilder().build()

        (event,) = run(account, grant_admin("bob"))
        run(account, create("eng", by=user("bob")))

        assert event.type == "role.changed"
        assert event.change == {
            "kind": "granted",
            "user_id": "bob",
            "role": "account_admin",
        }
        assert account.admins == {ADMIN, "bob"}
        assert_sound(account)

    def test_a_revoked_admin_may_no_longer_manage_the_account(self):
        account = AccountBuilder().admin("bob").build()

        (event,) = run(account, revoke_admin("bob"))

        assert event.change["kind"] == "revoked"
        assert refusal(account, create("eng", by=user("bob"))).reason is (
            Reason.NOT_AUTHORIZED
        )
        assert_sound(account)

    def test_granting_an_admin_again_changes_nothing(self):
        account = AccountBuilder().build()

        assert run(account, grant_admin(ADMIN)) == []

    def test_revoking_a_user_who_is_not_admin_changes_nothing(self):
        account = AccountBuilder().build()

        assert run(account, revoke_admin("bob")) == []

    def test_the_last_admin_cannot_be_revoked(self):
        account = AccountBuilder().admin("bob").build()
        run(account, revoke_admin("bob"))

        refused = refusal(account, revoke_admin(ADMIN, by=user(ADMIN)))

        assert refused.reason is Reason.LAST_ADMIN
        assert refused.details == {"user_id": ADMIN}
        assert account.admins == {ADMIN}


class TestOpenAccount:
    def test_an_account_opens_with_its_first_admins(self):
        account, events = handle(None, open_account("ada", "bob", "ada"))

        assert account is not None
        assert account.admins == {"ada", "bob"}
        (event,) = events
        assert event.type == "account.opened"
        assert event.change == {"kind": "opened", "admins": ["ada", "bob"]}

    def test_opening_again_with_the_same_admins_is_accepted_without_events(self):
        account = AccountBuilder("ada", "bob").build()

        same, events = handle(account, open_account("bob", "ada"))

        assert same is account
        assert events == []

    def test_opening_again_with_other_admins_is_refused(self):
        account = AccountBuilder("ada").build()

        refused = refusal(account, open_account("mallory"))

        assert refused.reason is Reason.ALREADY_EXISTS
        assert account.admins == {"ada"}

    def test_every_other_command_needs_an_open_account(self):
        for command in [
            set_purchased(1),
            create("eng"),
            assign("eng", 1),
            claim("dana"),
            release("dana"),
            grant_admin("bob"),
        ]:
            assert refusal(None, command).reason is Reason.UNKNOWN_ACCOUNT


STRANGER = user("mallory")
ADMIN_USER = user(ADMIN)


class TestAuthorization:
    @pytest.fixture
    def account(self) -> Account:
        return (
            AccountBuilder()
            .purchased(10)
            .organization("eng")
            .organization("ops")
            .dedicated("ops", 2)
            .claimed("dana", at="ops")
            .admin("bob")
            .build()
        )

    ADMIN_COMMANDS = {
        "create_organization": lambda by: create("web", by=by),
        "move_organization": lambda by: move("eng", under="ops", by=by),
        "delete_organization": lambda by: delete("eng", by=by),
        "assign": lambda by: assign("eng", 1, by=by),
        "revoke": lambda by: revoke("ops", by=by),
        "grant_role": lambda by: grant_admin("carol", by=by),
        "revoke_role": lambda by: revoke_admin("bob", by=by),
        "claim for someone else": lambda by: claim("erin", at="eng", by=by),
        "release for someone else": lambda by: release("dana", by=by),
    }
    SERVICE_COMMANDS = {
        "set_purchased": lambda by: set_purchased(12, by=by),
        "open_account": lambda by: open_account(ADMIN, "bob", by=by),
    }

    @pytest.mark.parametrize("name", list(ADMIN_COMMANDS))
    @pytest.mark.parametrize("actor", [BILLING, ADMIN_USER], ids=["service", "admin"])
    def test_an_admin_or_a_service_may_manage_the_account(self, account, name, actor):
        run(account, self.ADMIN_COMMANDS[name](actor))

        assert_sound(account)

    @pytest.mark.parametrize("name", list(ADMIN_COMMANDS) + list(SERVICE_COMMANDS))
    def test_a_plain_user_may_not(self, account, name):
        command = {**self.ADMIN_COMMANDS, **self.SERVICE_COMMANDS}[name](STRANGER)
        before = snapshot(account)

        refused = refusal(account, command)

        assert refused.reason is Reason.NOT_AUTHORIZED
        assert snapshot(account) == before

    @pytest.mark.parametrize("name", list(SERVICE_COMMANDS))
    def test_only_a_service_may_set_purchases_or_open_accounts(self, account, name):
        refused = refusal(account, self.SERVICE_COMMANDS[name](ADMIN_USER))

        assert refused.reason is Reason.NOT_AUTHORIZED
        assert refused.details == {"needs": "a trusted service"}
        run(account, self.SERVICE_COMMANDS[name](BILLING))
        assert_sound(account)

    def test_opening_an_account_needs_a_service(self):
        assert refusal(None, open_account(by=ADMIN_USER)).reason is (
            Reason.NOT_AUTHORIZED
        )

    def test_a_user_may_claim_and_release_for_themself(self, account):
        run(account, claim("erin", at="eng", by=user("erin")))
        run(account, release("erin", by=user("erin")))

        assert ("testops", "erin") not in account.claims
        assert_sound(account)

    def test_a_user_may_not_claim_or_release_for_someone_else(self, account):
        refused = refusal(account, claim("erin", at="eng", by=user("dana")))
        assert refused.reason is Reason.NOT_AUTHORIZED

        refused = refusal(account, release("dana", by=user("erin")))
        assert refused.reason is Reason.NOT_AUTHORIZED
        assert account.claims[("testops", "dana")] == "ops"


class TestWhatTheStoreIsToldToWrite:
    """The store writes only what ``account.changes`` names."""

    @pytest.fixture
    def account(self) -> Account:
        account = (
            AccountBuilder()
            .purchased(10)
            .organization("eng")
            .dedicated("eng", 5)
            .organization("web", under="eng")
            .organization("ops")
            .build()
        )
        account.changes.clear()
        return account

    def test_a_claim_names_the_claim_and_every_counter_up_to_the_funding_level(
        self, account
    ):
        run(account, claim("dana", at="web"))

        assert account.changes.claims == {("testops", "dana")}
        assert account.changes.allocations == {("web", "testops"), ("eng", "testops")}

    def test_a_release_names_the_claim_it_removes(self, account):
        run(account, claim("dana", at="web"))
        account.changes.clear()

        run(account, release("dana"))

        assert account.changes.claims == {("testops", "dana")}
        assert account.changes.allocations == {("web", "testops"), ("eng", "testops")}

    def test_a_move_names_the_subtree_and_both_parents(self, account):
        run(account, move("eng", under="ops"))

        assert account.changes.organizations >= {"eng", "web", "ops"}
        assert account.changes.allocations >= {
            ("ops", "testops"),
            (None, "testops"),
        }

    def test_a_delete_names_the_organization_and_its_allocations(self, account):
        run(account, delete("web"), delete("eng"))

        assert account.changes.organizations >= {"eng"}
        assert ("eng", "testops") in account.changes.allocations
        assert ("eng", "testops") not in account.allocations

    def test_a_role_change_names_the_admins(self, account):
        run(account, grant_admin("bob"))

        assert account.changes.admins
