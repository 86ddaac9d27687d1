"""The server matrix (each server kind's releases: which Debian suite gives which version), its combinations,
and the selection of the combinations a scenario runs on."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerRelease:
    """A server of the matrix: built from a Debian suite, or a user's own image (then `image` and `version`)."""

    family: str
    major: str
    suite: str = ""
    image: str | None = None
    version: str | None = None

    @property
    def label(self) -> str:
        """`dovecot-2.4` for the built-in matrix; the full version (`dovecot-2.4.1`) for a user's image."""
        return f"{self.family}-{self.version.split()[0].split('-')[0] if self.version else self.major}"


def matrix() -> dict[str, tuple[ServerRelease, ...]]:
    """family -> its built-in releases, from the registered server kinds."""
    from harness.kinds.registry import server_kinds

    return {kind.family: kind.releases for kind in server_kinds() if kind.family}


@dataclass(frozen=True)
class Combination:
    """One release per server family a scenario uses, e.g. Dovecot 2.4 with Postfix 3.10."""

    releases: tuple[ServerRelease, ...]

    @property
    def label(self) -> str:
        return "-".join(release.label for release in self.releases) or "no-server"

    def release(self, family: str) -> ServerRelease:
        return next(release for release in self.releases if release.family == family)


def combinations(
    families: Iterable[str],
    pins: Mapping[str, Sequence[str] | None],
    wanted: Mapping[str, Sequence[str]],
    images: Mapping[str, ServerRelease] | None = None,
) -> list[Combination]:
    """Every combination of the families' releases, cut by the scenario's pins and the command line.
    A family given a user's image (`images`) runs that image only."""
    releases_of = matrix()
    choices = []
    used = set(families)
    for family in (f for f in releases_of if f in used):
        releases = (images[family],) if images and family in images else releases_of[family]
        releases = tuple(r for r in releases if pins.get(family) is None or r.major in (pins[family] or ()))
        releases = tuple(r for r in releases if not wanted.get(family) or r.major in wanted[family])
        choices.append(releases)
    return [Combination(tuple(combo)) for combo in itertools.product(*choices)]


def major_of(version: str) -> str:
    """`2.4.1-4 (7d8c0e5759)` -> `2.4`; `3.10.13` -> `3.10`."""
    return ".".join(version.split()[0].split("-")[0].split(".")[:2])


def selected_combinations(scenario: Any, wanted: Mapping[str, Sequence[str]],
                          images: Mapping[str, ServerRelease] | None = None) -> list[Combination]:
    """The server combinations a scenario runs on: the matrix of the server families it uses (or the user's
    images), cut by the scenario's pins and by --<family>."""
    return combinations(scenario.families(), scenario.pins(), wanted, images)
