"""The server matrix (each server kind's releases: which Debian suite gives which version), its combinations,
rollout states (tiers of one chain on different versions), and the selection of what a scenario runs on."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

Matrix = Mapping[str, tuple["ServerRelease", ...]]
VersionOf = Callable[["ServerRelease"], str]


class MatrixError(RuntimeError):
    """The matrix cannot be labelled (its versions could not be read)."""


def short_version(version: str) -> str:
    """`2.4.1-4 (7d8c0e5759)` -> `2.4.1`; `2.3.19.1 (9b53102964)` -> `2.3.19.1`."""
    return version.split()[0].split("-")[0] if version else ""


def version_labels(family: str, version: str) -> list[str]:
    """`dovecot`, `2.4.1` -> `dovecot-2.4.1`, `dovecot-2.4`, `dovecot-2`: every key naming it, most specific first."""
    parts = version.split(".")
    return [f"{family}-{'.'.join(parts[:n])}" for n in range(len(parts), 0, -1)]


def major_of(version: str) -> str:
    """`2.4.1-4 (7d8c0e5759)` -> `2.4`; `3.10.13` -> `3.10`."""
    return ".".join(short_version(version).split(".")[:2])


@dataclass(frozen=True)
class ServerRelease:
    """A server of the matrix: built from a Debian suite (optionally with its package pinned to one version), or
    a user's own image (then `image` and `version`)."""

    family: str
    major: str
    suite: str = ""
    image: str | None = None
    version: str | None = None
    """Read from the image: always for a user's image; for the matrix where the major alone is ambiguous."""
    package: str | None = None
    """A Debian package version to build instead of the newest (a point release next to a security update)."""
    label_version: str | None = None
    """What the label shows instead of the major (`2.4.1` and `2.4.5`, when two releases share 2.4)."""

    @property
    def label(self) -> str:
        """`dovecot-2.3`; `dovecot-2.4.1` where a major repeats in the matrix; the full version for a user's image."""
        if self.image is not None and self.version:
            return f"{self.family}-{short_version(self.version)}"
        return f"{self.family}-{self.label_version or self.major}"

    def matches(self, wanted: str) -> bool:
        """Whether `--<family> wanted` (or a `servers:` pin) selects it: by major, or by the version it shows."""
        return wanted in {self.major, self.label_version, short_version(self.version or "") or None}


def matrix(version_of: VersionOf | None = None, packages: Mapping[str, str] | None = None,
           strict: bool = True, families: Iterable[str] | None = None) -> dict[str, tuple[ServerRelease, ...]]:
    """family -> its built-in releases, from the registered server kinds. Where a family has one major in two
    releases (2.4 in trixie and forky), `version_of` reads their versions (from their images) so that their
    labels tell them apart; without it such a matrix cannot be labelled (`strict`), or is labelled by suite
    (`dovecot-2.4-forky`: for what starts nothing, such as `python -m harness plan`)."""
    from harness.kinds.registry import server_kinds

    wanted = None if families is None else set(families)
    releases_of = pin_packages({kind.family: kind.releases for kind in server_kinds()
                                if kind.family and (wanted is None or kind.family in wanted)}, packages or {})
    return {family: _labelled(releases, version_of, strict) for family, releases in releases_of.items()}


DEBIAN_RELEASES = {"bookworm": 12, "trixie": 13, "forky": 14}
"""Debian's release numbers, as security and point-release versions carry them (`+deb12u7`)."""


def package_upstream(package: str) -> str:
    """`1:2.3.19.1+dfsg1-2.1+deb12u6` -> `2.3.19.1`: the upstream version inside a Debian version."""
    return package.partition(":")[2 if ":" in package else 0].split("+")[0].rsplit("-", 1)[0]


def pin_packages(releases_of: Matrix, packages: Mapping[str, str]) -> dict[str, tuple[ServerRelease, ...]]:
    """The matrix with each family's `packages[family]` pinned in the release of its major (the suite whose
    Debian number the version carries, `+deb12u6`; else the newest suite with that major), so that release is
    built from that package version instead of the newest. ValueError when no release has that major."""
    pinned = {family: tuple(releases) for family, releases in releases_of.items()}
    for family, package in packages.items():
        major = major_of(package_upstream(package))
        releases = list(pinned.get(family, ()))
        candidates = [i for i, release in enumerate(releases) if release.major == major]
        stable = re.search(r"\+deb(\d+)u\d+", package)
        matching = [i for i in candidates if stable and DEBIAN_RELEASES.get(releases[i].suite) == int(stable[1])]
        index = (matching or candidates or [None])[-1]
        if index is None:
            raise ValueError(f"--{family}-package {package}: no {family} {major} in the matrix "
                             f"({', '.join(r.major for r in releases)})")
        releases[index] = replace(releases[index], package=package)
        pinned[family] = tuple(releases)
    return pinned


def _labelled(releases: tuple[ServerRelease, ...], version_of: VersionOf | None,
              strict: bool = True) -> tuple[ServerRelease, ...]:
    majors = [release.major for release in releases]
    repeated = {major for major in majors if majors.count(major) > 1}
    if not repeated:
        return releases
    if version_of is None and not strict:
        return tuple(replace(r, label_version=f"{r.major}-{r.suite}") if r.major in repeated else r for r in releases)
    if version_of is None:
        family = releases[0].family
        raise MatrixError(f"{family} {', '.join(sorted(repeated))} comes from several suites: telling them apart "
                          "needs the versions in their images (a Docker engine)")
    labelled = []
    for release in releases:
        if release.major in repeated:
            version = version_of(release)
            release = replace(release, version=version, label_version=".".join(short_version(version).split(".")[:3]))
        labelled.append(release)
    labels = [release.label for release in labelled]
    return tuple(replace(release, label_version=f"{release.label_version}-{release.suite}")
                 if labels.count(release.label) > 1 else release for release in labelled)


@dataclass(frozen=True)
class Combination:
    """One release per server family a scenario uses (e.g. Dovecot 2.4.1 with Postfix 3.10), and, in a rollout
    state, other releases for some tiers of a family (the proxies on 2.4.1, the backends on 2.3)."""

    releases: tuple[ServerRelease, ...]
    tiers: tuple[tuple[str, ServerRelease], ...] = ()
    """(tier, release) for each tier of a mixed family, in the scenario's tier order."""

    @property
    def label(self) -> str:
        if not self.tiers:
            return "-".join(release.label for release in self.releases) or "no-server"
        mixed = {release.family for _, release in self.tiers}
        parts = [f"{tier}={release.label}" for tier, release in self.tiers]
        return ",".join(parts + [release.label for release in self.releases if release.family not in mixed])

    def release(self, family: str, tier: str | None = None) -> ServerRelease:
        """The release a node of `family` (in `tier`) runs."""
        for name, release in self.tiers:
            if name == tier and release.family == family:
                return release
        return next(release for release in self.releases if release.family == family)

    def all_releases(self) -> tuple[ServerRelease, ...]:
        """Every release of the run, each once."""
        return tuple(dict.fromkeys([*self.releases, *(release for _, release in self.tiers)]))

    @property
    def mixed(self) -> bool:
        return bool(self.tiers)


def combinations(
    families: Iterable[str],
    pins: Mapping[str, Sequence[str] | None],
    wanted: Mapping[str, Sequence[str]],
    images: Mapping[str, ServerRelease] | None = None,
    releases_of: Matrix | None = None,
) -> list[Combination]:
    """Every combination of the families' releases, cut by the scenario's pins and the command line.
    A family given a user's image (`images`) runs that image only."""
    choices = _choices(families, pins, wanted, images, releases_of)
    return [Combination(tuple(combo)) for combo in itertools.product(*choices.values())]


def _choices(families: Iterable[str], pins: Mapping[str, Sequence[str] | None], wanted: Mapping[str, Sequence[str]],
             images: Mapping[str, ServerRelease] | None, releases_of: Matrix | None) -> dict[str, list[ServerRelease]]:
    used = set(families)
    releases_of = releases_of if releases_of is not None else matrix(families=used)
    choices = {}
    for family in (f for f in releases_of if f in used):
        releases = (images[family],) if images and family in images else releases_of[family]
        picked = [r for r in releases if pins.get(family) is None or any(r.matches(p) for p in pins[family] or ())]
        picked = [r for r in picked if not wanted.get(family) or any(r.matches(w) for w in wanted[family])]
        choices[family] = picked
    return choices


def rollout_states(tiers: Mapping[str, Sequence[str]], uniform: Combination,
                   releases_of: Matrix, images: Mapping[str, ServerRelease] | None = None) -> list[Combination]:
    """The states of a rolling upgrade of each family whose nodes form several tiers: for every pair of adjacent
    releases (old, new) of the family, the front tiers on new and the rest on old, and the other way round
    (with tiers t1..tn: t1..tk new for each k < n, and t1..tk old). `uniform` gives the other families."""
    states = []
    for family, names in tiers.items():
        if len(names) < 2 or (images and family in images):
            continue
        releases = releases_of[family]
        for old, new in zip(releases, releases[1:], strict=False):
            for cut in range(1, len(names)):
                for front, back in ((new, old), (old, new)):
                    tiering = tuple((name, front if index < cut else back) for index, name in enumerate(names))
                    others = tuple(r for r in uniform.releases if r.family != family)
                    states.append(Combination((*others, back), tiering))
    return states


def selected_combinations(scenario: Any, wanted: Mapping[str, Sequence[str]],
                          images: Mapping[str, ServerRelease] | None = None, releases_of: Matrix | None = None,
                          rollouts: bool | None = None) -> list[Combination]:
    """The server combinations a scenario runs on: the matrix of the server families it uses (or the user's
    images), cut by the scenario's pins and by --<family>; then its rollout states, if the scenario asks for
    them (`rollout: true`) or `rollouts` is True (False: none). Rollouts use the releases left after the cuts."""
    releases_of = releases_of if releases_of is not None else matrix(families=scenario.families())
    pins = scenario.pins()
    uniform = combinations(scenario.families(), pins, wanted, images, releases_of)
    if not uniform or not (scenario.rollout if rollouts is None else rollouts):
        return uniform
    chosen = _choices(scenario.families(), pins, wanted, images, releases_of)
    states = rollout_states(scenario.tier_map(), uniform[0], chosen, images)
    return uniform + [state for state in states if state.label not in {combo.label for combo in uniform}]


def known_labels(releases_of: Matrix, images: Mapping[str, ServerRelease] | None = None) -> set[str]:
    """Every version key a scenario may use: each release's label and the labels it contains (`dovecot-2.4.1`,
    `dovecot-2.4`, `dovecot-2`), for the matrix and the user's images."""
    labels = set()
    for release in [*(r for releases in releases_of.values() for r in releases), *(images or {}).values()]:
        version = short_version(release.version) if release.version else release.label_version or release.major
        labels |= set(version_labels(release.family, version.split("-")[0]))
    return labels
