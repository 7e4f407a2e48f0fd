"""Every service is told where its peers are, and compose and Kubernetes tell it the same things.

The URL settings come from each service's settings class (every field ending in `_url`), so a new
peer setting is checked the day it is added; the differences between compose and the overlays are
the short, explained list below.
"""

from __future__ import annotations

import re
from typing import Annotated

import pytest
from pydantic import TypeAdapter

from tests.deploy.test_compose import compose, vigil_services
from tests.deploy.test_k8s import container_env, deployments
from tests.deploy.truth import K8S, OVERLAYS, ServiceTruth, of_kind, rendered, services

# Variables one side sets and the other does not, with the reason. Everything else must match, apart
# from two kinds the tests derive: a Kubernetes ConfigMap knob spelled out at the setting's default
# (compose gets the same value by leaving it out), and an optional compose variable (`${X:-}`, off
# unless the user sets it) that the service's Kubernetes file shows commented.
ONLY_IN_KUBERNETES = {
    ("escalator", "VIGIL_ESCALATOR_CONFIG_FILE"):
        "Kubernetes mounts the on-call configuration from a ConfigMap; compose runs the example in the image",
    ("notifier", "VIGIL_NOTIFIER_SMTP_USERNAME"): "a real mail relay may want AUTH; compose's Mailpit takes any mail",
    ("notifier", "VIGIL_NOTIFIER_SMTP_PASSWORD"): "a real mail relay may want AUTH; compose's Mailpit takes any mail",
    ("notifier", "VIGIL_NOTIFIER_SLACK_BOT_TOKEN"): "Slack needs a public https URL, which a laptop lacks",
    ("notifier", "VIGIL_NOTIFIER_SLACK_SIGNING_SECRET"): "Slack needs a public https URL, which a laptop lacks",
}
ONLY_IN_COMPOSE = {
    ("console", "VIGIL_CONSOLE_COOKIE_SECURE"):
        "compose serves plain http on localhost; Kubernetes keeps the default, a Secure cookie over TLS",
}
OPTIONAL_IN_COMPOSE = re.compile(r"\$\{[A-Z0-9_]+:-\}")


def url_settings(truth: ServiceTruth) -> list[str]:
    """The service's settings that are addresses: every field ending in `_url`, as field names."""
    return sorted(field for field in truth.settings.model_fields if field.endswith("_url"))


def env_name(truth: ServiceTruth, field: str) -> str:
    return f"{truth.settings.model_config.get('env_prefix', '')}{field}".upper()


def public_host(objects) -> str:
    (host,) = {rule["host"] for ingress in of_kind(objects, "Ingress").values() for rule in ingress["spec"]["rules"]}
    return host


def test_url_settings_are_found_in_the_settings_classes():
    assert url_settings(services()["incidents"]) == [
        "database_url", "incidents_escalator_url", "incidents_ingest_url", "incidents_public_url", "incidents_slo_url"]
    assert "escalator_public_url" in url_settings(services()["escalator"])


def test_every_service_gets_every_address_it_has_a_setting_for_in_prod():
    objects = rendered("prod")
    host = public_host(objects)
    for name, dep in deployments(objects).items():
        truth = services()[name]
        env = container_env(objects, dep["spec"]["template"]["spec"]["containers"][0])
        prefix = truth.settings.model_config.get("env_prefix", "") + name + "_"
        for field in url_settings(truth):
            variable = env_name(truth, field)
            stem = field.removeprefix(f"{name}_").removesuffix("_url")
            if field == "database_url":
                if truth.needs_postgres:
                    assert isinstance(env.get(variable), tuple), f"{name}: {variable} from a Secret"
            elif stem in services():  # a peer: its Service, on its port
                assert env.get(variable) == f"http://vigil-{stem}:{services()[stem].port}", f"{name}: {variable}"
                tokens = [env_name(truth, f) for f in (f"{name}_{stem}_token", f"{name}_peer_token")
                          if f in truth.settings.model_fields]
                for token in tokens:  # the token that goes with the address, from a Secret
                    assert isinstance(env.get(token), tuple), f"{name} calls {stem} without {token}"
            elif stem == "public":  # links people open: the public host, over TLS
                assert env.get(variable) == f"https://{host}", f"{name}: {variable}"
            else:
                pytest.fail(f"{name}: {variable} is an address this test does not know; say what it must be "
                            f"(prefix {prefix.upper()})")


def test_the_escalators_page_links_go_to_the_public_console_not_the_cluster():
    objects = rendered("prod")
    env = container_env(objects, deployments(objects)["escalator"]["spec"]["template"]["spec"]["containers"][0])
    assert env["VIGIL_ESCALATOR_PUBLIC_URL"] == f"https://{public_host(objects)}"
    assert env["VIGIL_ESCALATOR_PUBLIC_URL"] != env["VIGIL_ESCALATOR_INCIDENTS_URL"]


def at_default(truth: ServiceTruth, variable: str, value: object) -> bool:
    """Whether a literal value is what the setting is anyway when the variable is not set."""
    prefix = truth.settings.model_config.get("env_prefix", "")
    field = variable.removeprefix(prefix.upper()).lower()
    info = truth.settings.model_fields.get(field)
    if info is None or not isinstance(value, str):
        return False
    annotated = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    parsed = TypeAdapter(annotated).validate_python(value)
    return parsed == getattr(truth.settings.model_construct(), field)


def differences(objects, compose_doc: dict) -> dict[str, tuple[set[str], set[str]]]:
    """service -> (variables only compose sets, variables only the overlay sets), after the allowed ones."""
    k8s = deployments(objects)
    out = {}
    for name, svc in vigil_services(compose_doc).items():
        truth = services()[name]
        compose_env = {k: v for k, v in svc["environment"].items() if k.startswith("VIGIL_")}
        k8s_env = {k: v for k, v in container_env(objects, k8s[name]["spec"]["template"]["spec"]["containers"][0]).items()
                   if k.startswith("VIGIL_")}
        base_file = (K8S / "base" / f"{name}.yaml").read_text()
        only_compose = {k for k in compose_env.keys() - k8s_env.keys() if (name, k) not in ONLY_IN_COMPOSE
                        and not (OPTIONAL_IN_COMPOSE.fullmatch(str(compose_env[k])) and k in base_file)}
        only_k8s = {k for k in k8s_env.keys() - compose_env.keys() if (name, k) not in ONLY_IN_KUBERNETES
                    and not at_default(truth, k, k8s_env[k])}
        out[name] = (only_compose, only_k8s)
    return out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_compose_and_kubernetes_set_the_same_variables_per_service(overlay):
    problems = {name: diff for name, diff in differences(rendered(overlay), compose()).items() if diff != (set(), set())}
    assert not problems, "service: (only in compose, only in Kubernetes): " + repr(problems)


def test_every_allowed_difference_is_still_a_difference():
    """An entry that no longer differs is removed, so the list stays the list of real differences."""
    objects = rendered("prod")
    k8s = deployments(objects)
    for (name, variable) in ONLY_IN_KUBERNETES:
        assert variable in container_env(objects, k8s[name]["spec"]["template"]["spec"]["containers"][0]), variable
        assert variable not in vigil_services(compose())[name]["environment"], variable
    for (name, variable) in ONLY_IN_COMPOSE:
        assert variable not in container_env(objects, k8s[name]["spec"]["template"]["spec"]["containers"][0]), variable
        assert variable in vigil_services(compose())[name]["environment"], variable


def test_the_parity_check_finds_a_variable_that_one_side_lacks():
    doc = compose()
    del doc["services"]["incidents"]["environment"]["VIGIL_INCIDENTS_SLO_URL"]
    doc["services"]["slo"]["environment"]["VIGIL_SLO_MIN_EVENTS"] = "10"
    found = differences(rendered("prod"), doc)
    assert found["incidents"] == (set(), {"VIGIL_INCIDENTS_SLO_URL"})
    assert found["slo"] == ({"VIGIL_SLO_MIN_EVENTS"}, set())
    truth = services()["incidents"]
    assert at_default(truth, "VIGIL_INCIDENTS_AUTO_RESOLVE_SEVS", "3,4")
    assert not at_default(truth, "VIGIL_INCIDENTS_AUTO_RESOLVE_SEVS", "4")
