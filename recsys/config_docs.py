"""Reference tables and commented example files, generated from the config dataclasses.

The comment of a field is the comment at the end of its line, after the comment lines directly
above it (if any). ``docs/config.md`` is written from these by ``python -m api.config_docs``
(which knows every section, the API's included), and a test keeps it up to date.

Example:
    >>> from recsys.config import IndexConfig
    >>> field_comments(IndexConfig)["hnsw_m"]
    'HNSW graph degree'
    >>> print(example_toml(IndexConfig, "index").splitlines()[0])
    [index]
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import textwrap
import tokenize
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from recsys.config import field_default, field_types

__all__ = ["DocSection", "example_toml", "field_comments", "reference_table", "render_sections"]


@dataclass(frozen=True)
class DocSection:
    """One table of the reference: a config class and where its keys sit in a file.

    Attributes:
        title: heading of the section.
        cls: the config dataclass.
        table: its TOML table (``"hybrid"``, ``"pitch.openai"``; ``""`` = the file's top level).
        intro: a paragraph under the heading (Markdown).
        env_prefix: environment variable prefix when the fields are read from the environment.
        env_aliases: field -> variable name replacing ``env_prefix + FIELD``.
    """

    title: str
    cls: type
    table: str
    intro: str = ""
    env_prefix: str | None = None
    env_aliases: Mapping[str, str] = field(default_factory=dict)


def field_comments(cls: type) -> dict[str, str]:
    """The comment of each field of a dataclass, read from its source.

    Args:
        cls: a dataclass defined in a source file.

    Returns:
        field name -> comment ("" for an uncommented field).
    """
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[int, tuple[str, bool]] = {}  # line -> (text, whole line is a comment)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = (tok.string.lstrip("#").strip(), tok.line.lstrip()[0] == "#")
    classdef = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef))
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, str] = {}
    for node in classdef.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if node.target.id not in names:
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line in comments and comments[line][1]:
            above.insert(0, comments[line][0])
            line -= 1
        end = node.end_lineno or node.lineno
        trailing = [
            comments[n][0]
            for n in range(node.lineno, end + 1)
            if n in comments and not comments[n][1]
        ]
        parts = [" ".join(above)] if above else []
        out[node.target.id] = "; ".join(parts + trailing)
    return out


def _type_label(tp: Any) -> str:
    if get_origin(tp) in (typing.Union, types.UnionType):
        rest = [a for a in get_args(tp) if a is not type(None)]
        label = " or ".join(_type_label(a) for a in rest)
        return label + " or unset" if len(rest) < len(get_args(tp)) else label
    if get_origin(tp) is Literal:
        return " \\| ".join(json.dumps(a) for a in get_args(tp))
    if get_origin(tp) is tuple:
        return f"list of {_type_label(get_args(tp)[0])}s"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(tp, str(tp))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    return repr(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def reference_table(section: DocSection) -> str:
    """A Markdown table of a section's keys: key, type, default, comment (and env variable).

    Args:
        section: the config class and its table.

    Returns:
        Markdown text ending in a newline.
    """
    cls = section.cls
    hints = field_types(cls)
    comments = field_comments(cls)
    env = section.env_prefix is not None
    head = "| key | type | default | comment |" + (" environment |" if env else "")
    rule = "|---|---|---|---|" + ("---|" if env else "")
    rows = [head, rule]
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        nested = dataclasses.is_dataclass(tp)
        key = f"[{section.table}.{f.name}]" if section.table else f"[{f.name}]"
        if not nested:
            key = f.name
        default = field_default(f)
        shown = "see below" if nested else "unset" if default is None else _toml_value(default)
        row = f"| `{key}` | {_type_label(tp)} | `{shown}` | {_cell(comments.get(f.name, ''))} |"
        if env:
            var = "" if nested else section.env_aliases.get(f.name, "")
            var = var or ("" if nested else f"{section.env_prefix}{f.name.upper()}")
            row += f" {'`' + var + '`' if var else ''} |"
        rows.append(row)
    return "\n".join(rows) + "\n"


def _comment_lines(text: str, indent: str = "") -> list[str]:
    if not text:
        return []
    return textwrap.wrap(text, width=98 - len(indent), initial_indent="# ", subsequent_indent="# ")


def example_toml(cls: type, table: str, *, nested: bool = True, skip: Sequence[str] = ()) -> str:
    """A commented TOML file (or part of one) that sets every key of ``cls`` to its default.

    A key whose default is unset is written commented out, with its type as the value.

    Args:
        cls: the config dataclass.
        table: its TOML table (``""``: the top level, no header).
        nested: also write the tables of nested configs (``[table.sub]``).
        skip: fields left out.

    Returns:
        TOML text ending in a newline; parsing it gives the defaults.
    """
    hints = field_types(cls)
    comments = field_comments(cls)
    lines: list[str] = [f"[{table}]"] if table else []
    subtables: list[dataclasses.Field[Any]] = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            subtables.append(f)
            continue
        lines.extend(_comment_lines(comments.get(f.name, "")))
        default = field_default(f)
        if default is None:
            lines.append(f"# {f.name} = <{_type_label(hints[f.name]).removesuffix(' or unset')}>")
        else:
            lines.append(f"{f.name} = {_toml_value(default)}")
    text = "\n".join(lines) + "\n" if lines else ""
    if nested:
        for f in subtables:
            sub = f"{table}.{f.name}" if table else f.name
            body = example_toml(hints[f.name], sub)
            text += ("\n" if text else "") + body
    return text


def render_sections(sections: Sequence[DocSection]) -> str:
    """Each section as a heading, its intro and its reference table.

    Args:
        sections: the sections, in order.

    Returns:
        Markdown text.
    """
    parts = []
    for s in sections:
        where = f"`[{s.table}]`" if s.table else "the top level"
        intro = f"{s.intro}\n\n" if s.intro else ""
        parts.append(
            f"### {s.title}: {where}\n\n{intro}Class: `{s.cls.__module__}.{s.cls.__qualname__}`"
            f"\n\n{reference_table(s)}"
        )
    return "\n".join(parts)
