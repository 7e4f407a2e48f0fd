"""What `vigil login` keeps and where: the user's config directory, readable by the user alone;
which token and URL a command uses."""

from __future__ import annotations

import stat

import pytest

from services.responder_cli import credentials
from services.responder_cli.credentials import Credentials


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)  # no .local/api-admin-token here
    return tmp_path


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_file_lives_in_xdg_config_home_else_in_dot_config(home, monkeypatch):
    assert credentials.credentials_path() == home / "config" / "vigil" / "credentials.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # invalid by the XDG rules: ignored
    monkeypatch.setenv("HOME", str(home / "user"))
    assert credentials.credentials_path() == home / "user" / ".config" / "vigil" / "credentials.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert credentials.credentials_path() == home / "user" / ".config" / "vigil" / "credentials.toml"


def test_saved_credentials_are_readable_by_the_user_alone_even_with_a_permissive_umask(home):
    import os

    old = os.umask(0)
    try:
        path = credentials.save(Credentials(token="vgt_abc.def", urls={"incidents": "http://h:8081"}))
    finally:
        os.umask(old)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert credentials.load() == Credentials(token="vgt_abc.def", urls={"incidents": "http://h:8081"})
    assert not list(path.parent.glob(".credentials.toml.*")), "the temporary file was left behind"


def test_an_existing_open_directory_is_closed_and_the_file_replaced(home):
    directory = home / "config" / "vigil"
    directory.mkdir(parents=True, mode=0o755)
    (directory / "credentials.toml").write_text('token = "old"\n')
    (directory / "credentials.toml").chmod(0o644)
    path = credentials.save(Credentials(token="new", urls={}))
    assert mode(directory) == 0o700 and mode(path) == 0o600 and credentials.load().token == "new"


@pytest.mark.parametrize("token", ['quote"back\\slash', "tab\tnew\nline\x7fdel", "ünïcødé ✓", "x" * 4000])
def test_any_token_text_survives_the_round_trip_through_toml(home, token):
    credentials.save(Credentials(token=token, urls={"console": "http://[::1]:8085"}))
    assert credentials.load() == Credentials(token=token, urls={"console": "http://[::1]:8085"})


def test_no_file_is_no_credentials_and_a_broken_one_says_log_in_again(home):
    assert credentials.load() == Credentials()
    path = credentials.credentials_path()
    path.parent.mkdir(parents=True)
    path.write_text("token = \n")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="run `vigil login` again"):
        credentials.load()


def test_a_file_others_can_read_is_used_with_a_warning(home, capsys):
    credentials.save(Credentials(token="t", urls={}))
    credentials.credentials_path().chmod(0o644)
    assert credentials.load().token == "t"
    assert "can be read by others (mode 0644): chmod 600 it" in capsys.readouterr().err


def test_forget_removes_the_file_once(home):
    credentials.save(Credentials(token="t", urls={}))
    assert credentials.forget() == credentials.credentials_path()
    assert credentials.forget() is None and credentials.load() == Credentials()


def test_the_token_is_the_given_one_else_the_stored_one_else_vigil_devs_admin_token(home):
    stored = Credentials(token="stored", urls={})
    assert credentials.token_for("given", stored) == "given"
    assert credentials.token_for(None, stored) == "stored"
    assert credentials.token_for(None, Credentials()) is None
    (home / ".local").mkdir()
    (home / ".local" / "api-admin-token").write_text("dev-admin\n")
    assert credentials.token_for(None, Credentials()) == "dev-admin"
    assert credentials.token_for(None, stored) == "stored"


def test_the_url_is_the_given_one_else_the_stored_one_else_the_local_port():
    stored = Credentials(urls={"slo": "https://slo.example/"})
    assert credentials.url_for("slo", "http://x:1/", stored) == "http://x:1"
    assert credentials.url_for("slo", None, stored) == "https://slo.example"
    assert credentials.url_for("escalator", None, stored) == "http://127.0.0.1:8082"
    assert credentials.url_for("console", None, Credentials()) == "http://127.0.0.1:8085"


@pytest.mark.parametrize(("url", "service", "sibling"), [
    ("http://vigil.internal:8081", "escalator", "http://vigil.internal:8082"),
    ("https://10.0.0.5:8081/", "console", "https://10.0.0.5:8085"),
    ("http://[::1]:8081", "slo", "http://[::1]:8083"),
])
def test_login_with_one_url_takes_the_other_services_on_the_same_host(url, service, sibling):
    assert credentials.sibling_url(url, service) == sibling
