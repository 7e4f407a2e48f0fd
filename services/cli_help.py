"""Help texts of `vigil` shown as written.

Typer renders help with Rich, whose markup takes any `[word…]` for a style tag and drops it: "YYYY-MM-DD
[default: today]" printed as "YYYY-MM-DD", a checklist's "[x]" as nothing. No help text of ours is
meant as markup, so every `[` in one is escaped once, for every command group whichever module adds
it, and the Rich layout (panels, full command descriptions) stays.
"""

from __future__ import annotations

import inspect
import re
import typing

import typer
from typer.core import HAS_RICH
from typer.models import ParameterInfo

_UNESCAPED_BRACKET = re.compile(r"(?<!\\)\[")


def literal(text: str | None) -> str | None:
    """`text` with every `[` escaped for Rich; escaping twice changes nothing."""
    return _UNESCAPED_BRACKET.sub(r"\\[", text) if text else text


def parameter_infos(callback) -> list[ParameterInfo]:
    """The typer.Option/Argument of each parameter: as its default, or in its Annotated[...]."""
    try:
        hints = typing.get_type_hints(callback, include_extras=True)
    except (NameError, TypeError):  # an annotation only a type checker resolves: defaults alone
        hints = {}
    infos = []
    for name, parameter in inspect.signature(callback).parameters.items():
        metadata = getattr(hints.get(name), "__metadata__", ())
        infos += [m for m in (parameter.default, *metadata) if isinstance(m, ParameterInfo)]
    return infos


def literal_help(app: typer.Typer) -> None:
    """Escape the help of `app`, its commands, their parameters and every group under it, in place
    (only where Rich renders it: plain click help shows brackets as they are)."""
    if not HAS_RICH or app.rich_markup_mode != "rich":
        for group in app.registered_groups:
            literal_help(group.typer_instance)
        return
    app.info.help = literal(app.info.help)
    for command in app.registered_commands:
        command.help = literal(command.help or inspect.getdoc(command.callback))
        for info in parameter_infos(command.callback):
            info.help = literal(info.help)
    if app.registered_callback is not None:
        app.registered_callback.help = literal(app.registered_callback.help or inspect.getdoc(app.registered_callback.callback))
    for group in app.registered_groups:
        group.help = literal(group.help)
        literal_help(group.typer_instance)
