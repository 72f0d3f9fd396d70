"""Glob filters of the CVE export, matched in time linear in the name.

A pattern may use `*` (any characters within a path segment), `**` (any
characters, `/` included), `?` (one character other than `/`) and `{a,b}`
alternatives. A regular expression built from such a glob backtracks: five
`*` against a 200-character name take minutes in `re`. So each alternative
is run as a set of positions in the pattern, one step per character of the
name, with the set kept as the bits of an integer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Alternatives one pattern may expand to. `{a,b}` repeated n times gives
# 2**n alternatives, so the expansion stops here with an error.
MAX_ALTERNATIVES = 256

_LITERAL, _ONE, _SEGMENT, _ANY = "literal", "?", "*", "**"


class InvalidGlob(ValueError):
    """A pattern that expands to more than `MAX_ALTERNATIVES` alternatives."""


def expand_braces(pattern: str) -> list[str]:
    """Expand `{a,b}` alternatives, innermost first: "x/{a,b}" gives x/a and x/b.

    Raises `InvalidGlob` once the expansion passes `MAX_ALTERNATIVES`.
    """
    pending = [pattern]
    expanded: list[str] = []
    while pending:
        current = pending.pop()
        match = re.search(r"\{([^{}]*)\}", current)
        if match is None:
            expanded.append(current)
        else:
            head, tail = current[: match.start()], current[match.end() :]
            options = match.group(1).split(",")
            pending.extend(head + option + tail for option in reversed(options))
        if len(expanded) + len(pending) > MAX_ALTERNATIVES:
            raise InvalidGlob(
                f"pattern {pattern[:80]!r} expands to more than {MAX_ALTERNATIVES} "
                "alternatives; use fewer {a,b} groups"
            )
    return list(dict.fromkeys(expanded))  # nested groups can repeat an option


@dataclass(frozen=True, slots=True)
class _Program:
    """One alternative as bit masks: bit i stands for "tokens before i matched"."""

    literals: dict[str, int]  # character -> tokens that are that character
    one: int  # tokens `?`
    segment: int  # tokens `*`
    any: int  # tokens `**`
    accept: int  # the bit past the last token

    def _skip_stars(self, states: int) -> int:
        stars = self.segment | self.any
        while True:
            widened = states | ((states & stars) << 1)
            if widened == states:
                return states
            states = widened

    def fullmatch(self, name: str) -> bool:
        states = self._skip_stars(1)
        for char in name:
            if not states:
                return False
            steps = self.literals.get(char, 0)
            stays = self.any
            if char != "/":
                steps |= self.one
                stays |= self.segment
            states = self._skip_stars(((states & steps) << 1) | (states & stays))
        return bool(states & self.accept)


def _compile(alternative: str) -> _Program:
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(alternative):
        if alternative.startswith("**", index):
            kind, index = _ANY, index + 2
        elif alternative[index] in "*?":
            kind, index = alternative[index], index + 1
        else:
            tokens.append((_LITERAL, alternative[index]))
            index += 1
            continue
        tokens.append((kind, ""))
    literals: dict[str, int] = {}
    masks = {_ONE: 0, _SEGMENT: 0, _ANY: 0}
    for position, (kind, char) in enumerate(tokens):
        if kind == _LITERAL:
            literals[char] = literals.get(char, 0) | (1 << position)
        else:
            masks[kind] |= 1 << position
    return _Program(
        literals, masks[_ONE], masks[_SEGMENT], masks[_ANY], 1 << len(tokens)
    )


@dataclass(frozen=True, slots=True)
class GlobMatcher:
    """A compiled glob with its alternatives."""

    programs: tuple[_Program, ...]

    def fullmatch(self, name: str) -> bool:
        return any(program.fullmatch(name) for program in self.programs)


def glob_matcher(pattern: str) -> GlobMatcher | None:
    """Compile a glob with alternatives, or return None (match all) for an empty one.

    Raises `InvalidGlob` for a pattern with too many alternatives.
    """
    if not pattern:
        return None
    return GlobMatcher(tuple(_compile(option) for option in expand_braces(pattern)))
