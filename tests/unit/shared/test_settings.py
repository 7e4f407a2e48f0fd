import pytest

from services.ingest.config import IngestSettings
from shared.settings import SettingsError

TOKEN = "a-long-enough-token-123"


def test_defaults(monkeypatch):
    monkeypatch.setenv("VIGIL_INGEST_TOKENS", TOKEN)
    s = IngestSettings.load()
    assert s.kafka_bootstrap_servers == ["127.0.0.1:9092"]
    assert s.ingest_port == 8080
    assert s.ingest_max_body_bytes == 4 * 1024 * 1024
    assert s.ingest_tokens == [TOKEN]


def test_tokens_and_servers_are_comma_separated(monkeypatch):
    monkeypatch.setenv("VIGIL_INGEST_TOKENS", f" {TOKEN} , second-token-abcdefgh ,")
    monkeypatch.setenv("VIGIL_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9093")
    s = IngestSettings.load()
    assert s.ingest_tokens == [TOKEN, "second-token-abcdefgh"]
    assert s.kafka_bootstrap_servers == ["k1:9092", "k2:9093"]


def test_ingest_refuses_to_run_open_unless_told(monkeypatch):
    monkeypatch.delenv("VIGIL_INGEST_TOKENS", raising=False)
    with pytest.raises(SettingsError, match="VIGIL_INGEST_TOKENS"):
        IngestSettings.load()
    monkeypatch.setenv("VIGIL_INGEST_ALLOW_UNAUTHENTICATED", "true")
    assert IngestSettings.load().ingest_allow_unauthenticated


@pytest.mark.parametrize(
    "name, value, mentions",
    [
        ("VIGIL_INGEST_TOKENS", "short", "VIGIL_INGEST_TOKENS"),
        ("VIGIL_KAFKA_BOOTSTRAP_SERVERS", "no-port", "VIGIL_KAFKA_BOOTSTRAP_SERVERS"),
        ("VIGIL_INGEST_PORT", "http", "VIGIL_INGEST_PORT"),
        ("VIGIL_INGEST_MAX_BODY_BYTES", "10", "VIGIL_INGEST_MAX_BODY_BYTES"),
        ("VIGIL_DATABASE_URL", "mysql://x", "VIGIL_DATABASE_URL"),
        ("VIGIL_LOG_LEVEL", "loud", "VIGIL_LOG_LEVEL"),
    ],
)
def test_invalid_settings_fail_at_start_naming_the_variable(monkeypatch, name, value, mentions):
    monkeypatch.setenv("VIGIL_INGEST_TOKENS", TOKEN)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=mentions):
        IngestSettings.load()


def test_a_short_token_is_reported_without_printing_it(monkeypatch):
    monkeypatch.setenv("VIGIL_INGEST_TOKENS", f"{TOKEN},secret-x")
    with pytest.raises(SettingsError) as info:
        IngestSettings.load()
    assert "secret-x" not in str(info.value)
    assert "#2" in str(info.value)
