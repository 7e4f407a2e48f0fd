"""PURE: from an ID token's claims to a console person. The provider says who signed in (issuer +
subject, which never change) and what to call them (a claim such as preferred_username); the
console links that subject to one of its people the first time and recognises it by the link after.
The decisions here are data; service.py carries them out in one transaction."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.identity import RANK, Role

# The same names `vigil users add` accepts: what timelines record.
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
FALLBACK_CLAIMS = ("email", "sub")


@dataclass(frozen=True)
class RoleRule:
    """A person whose role claim is (or, for a list, contains) `value` gets `role`."""

    value: str
    role: Role

    @classmethod
    def parse(cls, rule: str) -> RoleRule:
        value, _, role = rule.rpartition(":")  # the value may hold ':' itself; roles do not
        if not value or role not in RANK:
            raise ValueError(f"{rule!r} is not value:role")
        return cls(value, role)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ClaimPolicy:
    name_claim: str = "preferred_username"
    new_person_role: Role | None = None  # None: someone without a console account is refused
    role_claim: str = "groups"
    role_rules: tuple[RoleRule, ...] = ()


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, in the console's terms."""

    issuer: str
    subject: str
    name: str  # the console name the claims propose
    display_name: str
    role: Role | None  # the highest role a rule grants; None: no rule matched


@dataclass(frozen=True)
class Account:
    """A console person as the decision needs them."""

    name: str
    role: Role
    disabled: bool
    subject: str | None  # the subject of this issuer linked to the person; None: not linked yet


@dataclass(frozen=True)
class SignInAs:
    name: str
    link: bool  # link the subject to the person (their first sign-in through the provider)
    new_role: Role | None  # a role rule changes the person's role; None: it stays


@dataclass(frozen=True)
class CreatePerson:
    name: str
    display_name: str
    role: Role


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str  # for the log: unusable_claims | unknown_person | disabled | linked_elsewhere
    message: str  # for the person


def role_from_claims(claims: Mapping[str, object], policy: ClaimPolicy) -> Role | None:
    """The highest role of the rules the role claim matches, or None."""
    value = claims.get(policy.role_claim)
    values = {v for v in value if isinstance(v, str)} if isinstance(value, list) else {value} if isinstance(value, str) else set()
    granted = [rule.role for rule in policy.role_rules if rule.value in values]
    return max(granted, key=RANK.__getitem__) if granted else None


def _name_source(claims: Mapping[str, object], policy: ClaimPolicy) -> tuple[str, str] | None:
    """(claim, value) that names the person: the configured claim, else e-mail, else subject."""
    for claim in (policy.name_claim, *FALLBACK_CLAIMS):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return claim, value.strip()
    return None


def identity_from_claims(claims: Mapping[str, object], *, policy: ClaimPolicy) -> Identity | Refusal:
    """The identity verified claims describe, or why they name nobody the console can record."""
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not isinstance(subject, str) or not subject:
        return Refusal(403, "unusable_claims", "The provider's answer did not say who signed in.")
    source = _name_source(claims, policy)
    if source is None:
        return Refusal(403, "unusable_claims", "The provider's answer named nobody.")
    claim, value = source
    if "@" in value:  # an e-mail address: the part before '@', and only an address the provider verified
        if claim == "email" and claims.get("email_verified") in (False, "false"):
            return Refusal(403, "unusable_claims", "The provider has not verified your e-mail address.")
        value = value.rsplit("@", 1)[0]
    name = value.lower()
    if not NAME.match(name):
        return Refusal(403, "unusable_claims", f"The provider calls you {value!r} ({claim}), which cannot be a console "
                       "name (lower-case letters, digits, '.', '_' or '-'). Ask an admin.")
    display = claims.get("name")
    display_name = display.strip()[:200] if isinstance(display, str) and display.strip() else name
    return Identity(issuer, subject, name, display_name, role_from_claims(claims, policy))


def decide(identity: Identity, *, linked: Account | None, named: Account | None,
           policy: ClaimPolicy) -> SignInAs | CreatePerson | Refusal:
    """Whom to sign in. `linked`: the person the subject is linked to; `named`: the person whose name
    the claims propose. A link wins over a name (a renamed provider account stays the same person); a
    name already linked to another subject is refused (it names someone else now)."""
    account, link = linked, False
    if account is None and named is not None:
        if named.subject is not None and named.subject != identity.subject:
            return Refusal(403, "linked_elsewhere", f"The console account {named.name} belongs to another account "
                           "at the provider. Ask an admin.")
        account, link = named, True
    if account is None:
        role = identity.role or policy.new_person_role
        if role is None:
            return Refusal(403, "unknown_person", f"There is no console account for {identity.name}. Ask an admin to "
                           f"add one (vigil users add {identity.name}), then sign in again.")
        return CreatePerson(identity.name, identity.display_name, role)
    if account.disabled:
        return Refusal(403, "disabled", f"The console account {account.name} is disabled. Ask an admin.")
    new_role = identity.role if identity.role is not None and identity.role != account.role else None
    return SignInAs(account.name, link, new_role)
