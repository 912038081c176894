"""What the CLI prints for a person, as `gh` does: tables with headers, times relative to now, durations,
fields chosen for scripts, a "did you mean" for a mistyped command or option, and shell completion."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn


def moment(value: str | None) -> datetime | None:
    """An API timestamp (ISO 8601) as an aware datetime."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def span(seconds: float) -> str:
    """A duration as a person says it: 45s, 4m12s, 2h05m, 3d4h."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def ago(value: str | None, now: datetime | None = None) -> str:
    """`3m12s ago`, `2d4h ago`; `just now` under a second; the date itself past a month."""
    when = moment(value)
    if when is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 1:
        return "just now"
    if seconds > 30 * 86400:
        return when.strftime("%Y-%m-%d")
    return f"{span(seconds)} ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, a header in capitals, the last column unpadded."""
    cells = [[header.upper() for header in headers], *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < len(headers) - 1 else cell for i, cell in enumerate(row))
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def selected(data: Any, fields: list[str]) -> Any:
    """Only `fields` of an answer (each item's, for a list or a page of them), as `gh --json a,b` gives."""
    if isinstance(data, list):
        return [selected(item, fields) for item in data]
    if isinstance(data, dict) and "launches" in data and not any(field in data for field in fields):
        return {**data, "launches": selected(data["launches"], fields)}
    if isinstance(data, dict):
        return {field: data.get(field) for field in fields}
    return data


def known_fields(data: Any) -> list[str]:
    """The fields an answer has, for the message when `--fields` names one it lacks."""
    if isinstance(data, list):
        return sorted({key for item in data if isinstance(item, dict) for key in item})
    if isinstance(data, dict) and isinstance(data.get("launches"), list):
        return known_fields(data["launches"])
    return sorted(data) if isinstance(data, dict) else []


class Parser(argparse.ArgumentParser):
    """argparse, with a suggestion when a command or an option is mistyped (`did you mean status?`)."""

    _argv: Sequence[str] = ()

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'([^']*)'", choice[2])
            message = f"unknown command {choice[1]!r}" + _suggestion(choice[1], options)
        unknown = re.search(r"unrecognized arguments: (\S+)", message)
        if unknown:
            message += _suggestion(unknown[1].split("=")[0], self._options_of_command())
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def _options_of_command(self) -> list[str]:
        """The options of the command given (its own, and a profile action's), else the root's."""
        parsers: list[argparse.ArgumentParser] = [self]
        for word in self._argv:
            subcommands = [a for a in parsers[-1]._actions if isinstance(a, argparse._SubParsersAction)]
            if subcommands and word in subcommands[0].choices:
                parsers.append(subcommands[0].choices[word])
        return sorted({option for action in parsers[-1]._actions for option in action.option_strings})


def _suggestion(given: str, options: list[str]) -> str:
    """The option meant: one the word begins (or that begins the word), else the closest in spelling."""
    prefixed = [option for option in options if option.startswith(given) or given.startswith(option)]
    close = prefixed or difflib.get_close_matches(given, options, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


def completion(parser: argparse.ArgumentParser, shell: str) -> str:
    """A completion script for bash (and zsh, through its bash completion): the commands, each command's
    options, and a profile action's own options, read from the parser itself so they never drift."""
    words: dict[str, list[str]] = {"": []}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words[""].append(name)
                words[name] = [option for a in sub._actions for option in a.option_strings]
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        words[name] += list(inner.choices)
                        for child, child_parser in inner.choices.items():
                            words[f"{name} {child}"] = [o for a in child_parser._actions for o in a.option_strings]
                    elif inner.choices and not inner.option_strings:
                        words[name] += [str(choice) for choice in inner.choices]
        else:
            words[""] += action.option_strings
    cases = "\n".join(
        f'    "{key}") echo "{" ".join(sorted(set(options)))}" ;;' for key, options in sorted(words.items())
    )
    script = f"""# launchctl completion ({shell}): eval "$(launchctl completion {shell})"
_launchctl_words() {{
  case "$1" in
{cases}
    *) return 1 ;;
  esac
}}
_launchctl() {{
  local current="${{COMP_WORDS[COMP_CWORD]}}" command="" action="" words="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${{COMP_WORDS[i]}}" in
      -*) ;;
      *)
        if [[ -z "$command" ]]; then command="${{COMP_WORDS[i]}}"
        elif [[ -z "$action" ]]; then action="${{COMP_WORDS[i]}}"
        fi ;;
    esac
  done
  words=$(_launchctl_words "$command $action") || words=$(_launchctl_words "$command") || words=""
  COMPREPLY=($(compgen -W "$words" -- "$current"))
}}
complete -o default -F _launchctl launchctl
"""
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + script
    return script
