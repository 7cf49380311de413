"""Read the admins' YAML file into a :class:`Config`, or report every problem in it with its
file, line and key path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config.model import Config, Loc, format_path

SECRET_KEYS = frozenset({"password", "access_token", "token"})
_USE_THE_ENVIRONMENT = (
    "secrets do not belong in this file; use the NATVERK_PASSWORD or NATVERK_ACCESS_TOKEN "
    "environment variable, or bot.token_file"
)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_config(path: str | Path) -> Config:
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise ConfigError(
            [Problem(file, None, "<root>", f"cannot read the file ({err.strerror})")]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(file, None, "<root>", "the file is not UTF-8 text")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ConfigError(
            [Problem(file, line, "<root>", f"YAML syntax error: {err.problem}")]
        ) from None
    except yaml.YAMLError as err:  # the reader refuses e.g. control characters
        raise ConfigError([Problem(file, None, "<root>", f"unreadable YAML ({err})")]) from None

    lines: dict[Loc, int] = {}
    found: list[tuple[Loc, str]] = []
    if root is not None:
        lines[()] = root.start_mark.line + 1
        _scan(root, (), lines, found)
    if isinstance(data, dict) and "source" in data:
        # Config.source is set below, never read from the file.
        del data["source"]
        found.append((("source",), _unknown_key(("source",))))

    try:
        config = Config.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as err:
        found += [
            (error["loc"], _message(error))
            for error in err.errors()
            if not (error["type"] == "extra_forbidden" and error["loc"][-1] in SECRET_KEYS)
        ]
    else:
        if not found:
            return config.model_copy(update={"source": path})
    problems = [Problem(file, _line(lines, loc), format_path(loc), m) for loc, m in found]
    raise ConfigError(sorted(problems, key=lambda p: p.line or 0))


def _scan(node: yaml.Node, loc: Loc, lines: dict[Loc, int], found: list[tuple[Loc, str]]) -> None:
    """Record the line of every key and list item; report duplicate keys and secrets."""
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*loc, key)
            lines[child] = key_node.start_mark.line + 1
            if key in first_line:
                found.append((child, f"duplicate key (first at line {first_line[key]})"))
            first_line.setdefault(key, lines[child])
            if key in SECRET_KEYS:
                found.append((child, _USE_THE_ENVIRONMENT))
            _scan(value_node, child, lines, found)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _scan(item, (*loc, i), lines, found)


def _line(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest ancestor present in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _message(error: ErrorDetails) -> str:
    match error["type"]:
        case "missing":
            return "required key is missing"
        case "extra_forbidden":
            return _unknown_key(error["loc"])
        case "model_type":
            return "expected a mapping of keys and values"
        case _:
            return error["msg"]


def _unknown_key(loc: Loc) -> str:
    """The message for the unknown key at ``loc``, naming the keys allowed there."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, str):
            annotation = model.model_fields[part].annotation
            model = get_args(annotation)[0] if get_origin(annotation) is list else annotation
    allowed = [key for key in model.model_fields if (model, key) != (Config, "source")]
    return f"unknown key; allowed keys are {', '.join(allowed)}"
