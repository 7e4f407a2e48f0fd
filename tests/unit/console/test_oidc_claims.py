"""What an OpenID Connect provider's claims mean to the console: the name and role they give, and
whom the console signs in (a linked person, a person by name, a new person, or nobody and why)."""

from __future__ import annotations

import pytest

from services.console.oidc.claims import (
    Account,
    ClaimPolicy,
    CreatePerson,
    Identity,
    Refusal,
    RoleRule,
    SignInAs,
    decide,
    identity_from_claims,
    role_from_claims,
)

ISSUER = "https://id.example.test"
RULES = (RoleRule.parse("vigil-oncall:responder"), RoleRule.parse("vigil-admins:admin"), RoleRule.parse("staff:viewer"))
POLICY = ClaimPolicy(role_rules=RULES)


def claims(**extra) -> dict:
    return {"iss": ISSUER, "sub": "s-1", **extra}


@pytest.mark.parametrize(("given", "name"), [
    (claims(preferred_username="alice"), "alice"),
    (claims(preferred_username="Alice.Smith"), "alice.smith"),  # names are lower-case, as `vigil users add` wants
    (claims(preferred_username="alice@corp.example"), "alice"),  # a UPN (Entra) names the part before '@'
    (claims(email="bob@example.test"), "bob"),  # no preferred_username: the e-mail address's local part
    (claims(email="bob@example.test", email_verified=True), "bob"),
    (claims(preferred_username="  ", email="carol@example.test"), "carol"),  # a blank claim is no claim
    (claims(sub="248289761001"), "248289761001"),  # nothing else: the subject
])
def test_the_person_is_named_by_the_configured_claim_then_email_then_subject(given, name):
    identity = identity_from_claims(given, policy=POLICY)
    assert isinstance(identity, Identity) and identity.name == name and identity.subject == given["sub"]


def test_another_claim_can_name_people():
    identity = identity_from_claims(claims(preferred_username="alice", nickname="al"),
                                    policy=ClaimPolicy(name_claim="nickname"))
    assert isinstance(identity, Identity) and identity.name == "al"


@pytest.mark.parametrize("given", [
    claims(email="bob@example.test", email_verified=False),  # anyone could have typed that address
    claims(email="bob@example.test", email_verified="false"),
    claims(preferred_username="bob smith"),  # not a console name
    claims(preferred_username="-bob"),
    claims(preferred_username="x" * 64),
    {"iss": ISSUER, "preferred_username": "alice"},  # no subject: nothing to link
    {"sub": "s-1", "preferred_username": "alice"},  # no issuer
    claims(sub=""),
])
def test_claims_that_name_nobody_the_console_can_record_are_refused(given):
    refusal = identity_from_claims(given, policy=POLICY)
    assert isinstance(refusal, Refusal) and refusal.status == 403 and refusal.reason == "unusable_claims"


def test_the_display_name_is_the_name_claim_else_the_console_name():
    assert identity_from_claims(claims(preferred_username="alice", name=" Alice Liddell "),
                                policy=POLICY).display_name == "Alice Liddell"
    assert identity_from_claims(claims(preferred_username="alice"), policy=POLICY).display_name == "alice"


@pytest.mark.parametrize(("groups", "role"), [
    (["vigil-oncall"], "responder"),
    (["staff", "vigil-oncall", "vigil-admins"], "admin"),  # the highest role any rule grants
    (["staff"], "viewer"),
    ("vigil-oncall", "responder"),  # a claim with one value instead of a list
    (["other"], None),
    ([], None),
    (None, None),
    ([{"nested": "vigil-admins"}, 7], None),  # values that are not strings match nothing
])
def test_role_rules_grant_the_highest_role_the_groups_match(groups, role):
    given = claims() if groups is None else claims(groups=groups)
    assert role_from_claims(given, POLICY) == role


def test_role_rules_may_look_at_another_claim_and_values_with_colons():
    policy = ClaimPolicy(role_claim="roles", role_rules=(RoleRule.parse("urn:vigil:admin:admin"),))
    assert policy.role_rules[0] == RoleRule("urn:vigil:admin", "admin")
    assert role_from_claims({"roles": ["urn:vigil:admin"]}, policy) == "admin"
    with pytest.raises(ValueError):
        RoleRule.parse("vigil-oncall:boss")


def identity(name: str = "alice", subject: str = "s-1", role=None) -> Identity:
    return Identity(ISSUER, subject, name, name.capitalize(), role)


def account(name: str = "alice", role="responder", disabled=False, subject="s-1") -> Account:
    return Account(name, role, disabled, subject)


def test_a_linked_subject_signs_its_person_in_whatever_the_name_says_now():
    # Renamed at the provider: the link still says who it is.
    assert decide(identity(name="alice2"), linked=account(), named=None, policy=POLICY) == SignInAs("alice", False, None)


def test_the_first_sign_in_of_a_known_name_links_the_subject_to_that_person():
    decision = decide(identity(), linked=None, named=account(subject=None), policy=POLICY)
    assert decision == SignInAs("alice", link=True, new_role=None)


def test_a_name_already_linked_to_another_subject_is_refused():
    decision = decide(identity(subject="s-2"), linked=None, named=account(subject="s-1"), policy=POLICY)
    assert isinstance(decision, Refusal) and decision.reason == "linked_elsewhere"


def test_someone_unknown_is_refused_by_default():
    decision = decide(identity("newbie"), linked=None, named=None, policy=POLICY)
    assert isinstance(decision, Refusal) and decision.reason == "unknown_person" and decision.status == 403
    assert "vigil users add newbie" in decision.message


def test_someone_unknown_is_created_with_the_new_person_role_or_the_role_a_rule_grants():
    viewers = ClaimPolicy(new_person_role="viewer")
    assert decide(identity("newbie"), linked=None, named=None, policy=viewers) == CreatePerson("newbie", "Newbie", "viewer")
    granted = identity("omar", role="responder")
    assert decide(granted, linked=None, named=None, policy=POLICY) == CreatePerson("omar", "Omar", "responder")


@pytest.mark.parametrize(("linked", "named"), [(account(disabled=True), None), (None, account(disabled=True, subject=None))])
def test_a_disabled_person_is_refused_however_they_are_found(linked, named):
    decision = decide(identity(), linked=linked, named=named, policy=POLICY)
    assert isinstance(decision, Refusal) and decision.reason == "disabled"


@pytest.mark.parametrize(("granted", "current", "new_role"), [
    ("admin", "responder", "admin"),  # added to the admins' group at the provider
    ("viewer", "responder", "viewer"),  # a rule that matches sets the role, down as well as up
    ("responder", "responder", None),  # no change
    (None, "admin", None),  # no rule matches: the console's role stays (rules grant, they never remove access)
])
def test_a_matching_role_rule_sets_the_role_at_every_sign_in(granted, current, new_role):
    decision = decide(identity(role=granted), linked=account(role=current), named=None, policy=POLICY)
    assert decision == SignInAs("alice", False, new_role)
