"""The node-kind interface: what a kind of hop supplies so the rest of the harness can load, plan, start, observe
and report it without knowing it by name. One subclass per kind, in its own folder under `harness/kinds/` (or
anywhere else, registered with `harness.kinds.registry.register`).

A kind supplies:
- `model`: its scenario model (a pydantic `NodeModel` with `kind: Literal["<name>"]`);
- `observable(spec)`: the expectation keys (`expect: <node>: <key>:`) such a node can show;
- `recipe(release)`: its image recipe (a Dockerfile and the files it copies, on a Debian suite's base image);
- `container_spec(...)`: how its container runs (command, files, environment);
- `ready(...)`: its readiness probe, polled until it holds;
- `log_barrier(...)`, `work_in_progress(log)`: whether its log is known to hold every line written so far, and
  whether it shows work that goes on after the clients finished (optional; see harness/observe/settle.py);
- `version_command`: how to read the server version from an image (server kinds);
- `observe(...)`: its observation parser (log -> events).

A kind with a `family` is a real server: it has versions (`releases`, the built-in matrix), and scenarios pick
them with `servers: {<family>: [...]}`, version keys such as `<family>-2.4`, and `--<family>`/`--<family>-image`.
A kind without one is a hop of the harness's own (one image, no versions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from harness.observe.events import NodeObservation
from harness.provision.spec import ContainerSpec

if TYPE_CHECKING:
    from harness.plan.topology import NodePlan, Plan
    from harness.plan.versions import ServerRelease
    from harness.provision.container import NodeContainer


class NodeModel(BaseModel):
    """What every node of a scenario has: its kind, where it forwards to, whom it trusts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    to: str | None = None
    trust: tuple[str, ...] = ()

    def node_references(self) -> dict[str, str]:
        """Fields naming another node, besides `to` (e.g. a backend's MTA): field -> node name."""
        return {}

    def protocols(self) -> tuple[str, ...]:
        """The protocols this node speaks, where that is a setting of the node (a relay's `protocol:`)."""
        return ()

    def sends(self) -> list[tuple[str, Mapping[str, object]]]:
        """Forwarding parameters this node sends of its own accord, per protocol (an inject relay's ID/XCLIENT)."""
        return []

    def trust_lists(self) -> dict[str, tuple[str, ...]]:
        """Every list of senders the node trusts for something, by field (each entry a node, `client`,
        `<node>/<prefix>`, `<node>.v6` or a network), resolved to networks by the plan."""
        return {"trust": self.trust}

    def proxy_protocol_port(self, protocol: str) -> int | None:
        """The port where this node takes a PROXY protocol header before `protocol`, or None (a front such as
        HAProxy then connects to the protocol's own port, without a header)."""
        return None


@dataclass(frozen=True)
class ImageRecipe:
    """How to build a kind's image: `Dockerfile` and the files it copies, on the suite's base image (build arg
    BASE), with more build arguments (`PACKAGE`: a pinned package version). The image's tag is a hash of all of
    it, so a change rebuilds and nothing else does."""

    name: str
    suite: str
    files: Mapping[str, bytes]
    buildargs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeImage:
    """The image a node runs and what it holds: the server version read from it (None for the harness's hops)."""

    tag: str
    release: ServerRelease | None = None
    version: str | None = None
    package: str | None = None
    """The Debian package version of the server in the image, where it has one."""
    facts: Mapping[str, str] = field(default_factory=dict)
    """What the kind learnt from the image itself (`inspect_image`), e.g. which users exist."""

    @property
    def short_version(self) -> str:
        """`2.4.1-4 (7d8c0e5759)` -> `2.4.1`."""
        from harness.plan.versions import short_version

        return short_version(self.version or "")


def dockerfile_recipe(name: str, suite: str, folder: Path, extra: Mapping[str, bytes] | None = None,
                      package: str | None = None) -> ImageRecipe:
    """A recipe from `folder/Dockerfile` (plus `extra` files of the build context; `package` as build arg
    PACKAGE)."""
    return ImageRecipe(name, suite, {"Dockerfile": (folder / "Dockerfile").read_bytes(), **(extra or {})},
                       {"PACKAGE": package} if package else {})


def node_container(node: NodePlan, image: NodeImage, labels: Mapping[str, str], command: tuple[str, ...], *,
                   env: Mapping[str, str] | None = None, files: Mapping[str, bytes] | None = None,
                   as_root: bool = False) -> ContainerSpec:
    """The container of `node` on its planned addresses, named after it."""
    return ContainerSpec(name=node.name, image=image.tag, address=node.address, address6=node.address6,
                         command=command, env=env or {}, files=files or {}, labels=labels, as_root=as_root)


class NodeKind:
    """A kind of node. Subclasses set the class attributes and implement the methods that raise here."""

    name: ClassVar[str]
    model: ClassVar[type[NodeModel]]
    family: ClassVar[str | None] = None
    """The server family (versions, `servers:`, version keys); None for a hop of the harness's own."""
    releases: ClassVar[tuple[ServerRelease, ...]] = ()
    """The built-in matrix of a server family, oldest first."""
    version_command: ClassVar[tuple[str, ...]] = ()
    package_command: ClassVar[tuple[str, ...]] = ()
    """Prints the Debian package version of the server (empty: no such thing)."""
    serves: ClassVar[tuple[str, ...]] = ()
    """The protocols a server of this kind answers (for the coverage table's columns)."""
    shown_only_in_reply: ClassVar[frozenset[str]] = frozenset()
    """Forwarding parameters (coverage table rows) a server of this kind takes but shows in no log line: its
    exact reply to the command that carried them is the only place a hop can be seen to take them."""
    is_server: ClassVar[bool] = True
    """A real server: its log is checked for crashes and kept in the observations."""
    categories: ClassVar[frozenset[str]] = frozenset()
    """Every expectation key some node of this kind can show (`observable` says which a given node shows)."""
    fields: ClassVar[Mapping[str, frozenset[str]]] = {}
    """The fields the events of a category can have, where they form a closed set (a login line's elements):
    an expectation naming another is a typo. Categories left out are open (ID keys, forwarded fields)."""
    field_prefixes: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Field name prefixes a closed category also allows (`fwd_` for forwarded login elements)."""

    def variant(self, spec: NodeModel) -> str:
        """The node's role within its kind (proxy, backend, capture, ...), for messages."""
        return self.name

    def describe(self, spec: NodeModel) -> str:
        """A few words for failure texts and plans: `dovecot proxy`, `relay capture imap`."""
        return self.name

    def observable(self, spec: NodeModel) -> frozenset[str]:
        """The expectation keys a node of this kind can show."""
        raise NotImplementedError

    def observable_problem(self, spec: NodeModel, category: str, pinned: tuple[str, ...] | None) -> str | None:
        """Why this node cannot show `category` (with the family's versions `pinned` by the scenario), or None."""
        allowed = self.observable(spec)
        if category in allowed:
            return None
        return (f"a {self.name} {self.variant(spec)} cannot show `{category}`; it shows: "
                f"{', '.join(sorted(allowed)) or 'nothing (expect things of the next hop instead)'}")

    def recipe(self, release: ServerRelease | None) -> ImageRecipe:
        """The image recipe for a release of the matrix. A kind without a family gets the item's generation: the
        release of its first server family (so a front can come from the same Debian suite), or None."""
        raise NotImplementedError

    def check_image(self, tag: str, version: str) -> None:
        """Raise ValueError (naming the image and the reason) when a user's image of this version cannot work."""

    def inspect_image(self, read_file: Callable[[str], bytes | None], version: str) -> dict[str, str]:
        """Facts about an image the config depends on (its users, the config version its binary accepts),
        learnt without running anything in it: `read_file(path)` gives a file of the image (None if absent).
        Raise ValueError naming the reason when the image cannot work."""
        return {}

    def container_spec(self, node: NodePlan, plan: Plan, image: NodeImage, labels: Mapping[str, str]) -> ContainerSpec:
        raise NotImplementedError

    def ready(self, node: NodePlan, container: NodeContainer) -> bool:
        """One poll of the readiness probe: True once the node serves (a protocol greeting, a log line)."""
        raise NotImplementedError

    def log_barrier(self, node: NodePlan, container: NodeContainer, timeout: float) -> bool:
        """Whether the node's log is now known to hold every line the node wrote before this call (a probe whose
        own line goes through the same single writer, `NodeContainer.probe_barrier` or `signal_barrier`).
        False (the default: no barrier) leaves the settle rule to wait for QUIET_S without growth."""
        return False

    def work_in_progress(self, log: str) -> bool:
        """Whether the log shows work still going on that no client waits for (a proxy retrying a login, a mail
        in the queue), so that more lines may come after a barrier: then the settle rule waits for QUIET_S
        without growth instead."""
        return False

    def observe(self, node: NodePlan, image: NodeImage, log: str) -> NodeObservation:
        raise NotImplementedError
