"""PURE: an SLO definitions file read into definitions: our YAML (`slos: [...]`) or OpenSLO v1
documents (`openslo.from_openslo`). The settings validate `VIGIL_SLO_CONFIG_FILE` with it."""

from __future__ import annotations

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from services.slo.budget_policy import ErrorBudgetPolicy
from services.slo.definitions import SloDefinition, SloDefinitionError
from services.slo.openslo import from_openslo
from services.slo.series.feeds import feeds_of


class _OwnFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slos: list[SloDefinition]
    error_budget_policy: dict[str, ErrorBudgetPolicy] = {}  # by service or `*` (budget_policy.policy_for)


def parse_definitions(text: str) -> tuple[SloDefinition, ...]:
    """Definitions from YAML text: our format (`slos: [...]`) or OpenSLO v1 documents (`kind: SLO`,
    several separated by `---`)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise SloDefinitionError(f"not YAML: {exc}") from None
    if not docs:
        raise SloDefinitionError("the file defines no SLOs")
    try:
        if all(isinstance(d, dict) and str(d.get("apiVersion", "")).startswith("openslo/") for d in docs):
            found = tuple(defn for d in docs if d.get("kind") == "SLO" for defn in from_openslo(d))
        elif len(docs) == 1 and isinstance(docs[0], dict) and "slos" in docs[0]:
            found = tuple(_OwnFile.model_validate(docs[0]).slos)
        else:
            raise SloDefinitionError("expected `slos: [...]` or OpenSLO v1 documents (apiVersion: openslo/v1)")
    except ValidationError as exc:
        raise SloDefinitionError(f"invalid SLO definition: {exc}") from None
    if not found:
        raise SloDefinitionError("the file defines no SLOs")
    keys = [(d.service, d.name) for d in found]
    if len(set(keys)) != len(keys):
        raise SloDefinitionError("an SLO name is used twice for the same service")
    feeds_of(found)  # one total, bad/good and histogram selector per service
    return found


def parse_budget_policies(text: str) -> dict[str, ErrorBudgetPolicy]:
    """The `error_budget_policy` section of our YAML (by service, or `*`); OpenSLO files have none,
    so their services get the default (freeze releases when a budget is exhausted)."""
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(docs) == 1 and isinstance(docs[0], dict) and "slos" in docs[0]:
        try:
            return dict(_OwnFile.model_validate(docs[0]).error_budget_policy)
        except ValidationError as exc:
            raise SloDefinitionError(f"invalid error_budget_policy: {exc}") from None
    return {}
