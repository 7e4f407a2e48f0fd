"""The `vigil` command for responders: log in once, then see and act on incidents, on-call, overrides,
SLOs and personal API tokens through the services' HTTP APIs (never their databases).

- `client.py`: one HTTP call to a Vigil API, its answer or a typed failure (shared with `services/ops_cli.py`).
- `credentials.py`: the token and service URLs `vigil login` keeps in the user's config directory.
- `parse.py` / `render.py`: pure: what the arguments mean, how answers look on a terminal.
- `common.py`: the options every command shares and how failures become messages and exit codes.
- `incidents.py`, `oncall.py`, `slo.py`, `tokens.py`, `login.py`: the commands.

Nothing is imported here: `services/cli.py` imports the commands from their modules."""
