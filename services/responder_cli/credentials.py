"""What `vigil login` keeps: the API token and the services' URLs, in
`$XDG_CONFIG_HOME/vigil/credentials.toml` (else `~/.config/vigil/credentials.toml`), readable by
the user alone (file 0600, directory 0700).

Which token a command sends: `--token`, else `VIGIL_API_TOKEN`, else the stored one, else the admin
token `vigil dev` keeps in `.local/api-admin-token`. Which URL: `--url`, else `VIGIL_<SERVICE>_URL`,
else the stored one, else the local `vigil dev` port."""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"incidents": 8081, "escalator": 8082, "slo": 8083, "console": 8085, "ingest": 8080}
DEFAULT_URLS = {service: f"http://127.0.0.1:{port}" for service, port in DEFAULT_PORTS.items()}
DEV_TOKEN = Path(".local/api-admin-token")


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    urls: dict[str, str] = field(default_factory=dict)


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    # The XDG rule: a relative XDG_CONFIG_HOME is invalid and ignored.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "vigil"


def credentials_path() -> Path:
    return config_dir() / "credentials.toml"


def load() -> Credentials:
    """The stored credentials (empty when there are none). Warns when others may read the file."""
    path = credentials_path()
    try:
        text = path.read_text()
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return Credentials()
    if mode & 0o077:
        print(f"warning: {path} can be read by others (mode {mode:04o}): chmod 600 it", file=sys.stderr)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML ({exc}): run `vigil login` again") from None
    urls = data.get("urls") if isinstance(data.get("urls"), dict) else {}
    token = data.get("token") if isinstance(data.get("token"), str) else None
    return Credentials(token=token, urls={k: v for k, v in urls.items() if isinstance(v, str)})


def _toml_string(value: str) -> str:
    # JSON's escapes are TOML's; TOML also wants DEL escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def to_toml(credentials: Credentials) -> str:
    lines = ["# Written by `vigil login`; `vigil logout` removes it. Keep it private (mode 0600).",
             f"token = {_toml_string(credentials.token or '')}", "", "[urls]"]
    lines += [f"{name} = {_toml_string(url)}" for name, url in sorted(credentials.urls.items())]
    return "\n".join(lines) + "\n"


def save(credentials: Credentials) -> Path:
    """Write the file atomically, created 0600 in a 0700 directory: never readable by others, not even for a moment."""
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(to_toml(credentials))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def forget() -> Path | None:
    """Remove the stored credentials; the path removed, or None when there was none."""
    path = credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def sibling_url(url: str, service: str) -> str:
    """The same host's URL of another service at its `vigil dev` port: what `vigil login --url
    http://host:8081` assumes for the escalator (8082), SLO (8083) and console (8085)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return urlunsplit((parts.scheme or "http", f"{host}:{DEFAULT_PORTS[service]}", "", "", ""))


def token_for(explicit: str | None, stored: Credentials) -> str | None:
    if explicit:
        return explicit
    if stored.token:
        return stored.token
    return DEV_TOKEN.read_text().strip() if DEV_TOKEN.is_file() else None


def url_for(service: str, explicit: str | None, stored: Credentials) -> str:
    return (explicit or stored.urls.get(service) or DEFAULT_URLS[service]).rstrip("/")
