"""The built-in server matrix (which Debian suite gives which server version) and its combinations."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

FAMILIES = ("dovecot", "postfix")


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


RELEASES: dict[str, tuple[ServerRelease, ...]] = {
    "dovecot": (ServerRelease("dovecot", "2.3", "bookworm"), ServerRelease("dovecot", "2.4", "trixie")),
    "postfix": (ServerRelease("postfix", "3.7", "bookworm"), ServerRelease("postfix", "3.10", "trixie")),
}
DOVECOT_RELEASES = RELEASES["dovecot"]
RELAY_SUITE = "bookworm"


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
    choices = []
    for family in (f for f in FAMILIES if f in set(families)):
        matrix = (images[family],) if images and family in images else RELEASES[family]
        releases = [r for r in matrix if pins.get(family) is None or r.major in (pins[family] or ())]
        releases = [r for r in releases if not wanted.get(family) or r.major in wanted[family]]
        choices.append(releases)
    return [Combination(tuple(combo)) for combo in itertools.product(*choices)]


def major_of(version: str) -> str:
    """`2.4.1-4 (7d8c0e5759)` -> `2.4`; `3.10.13` -> `3.10`."""
    return ".".join(version.split()[0].split("-")[0].split(".")[:2])
