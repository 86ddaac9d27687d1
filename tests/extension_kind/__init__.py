"""A node kind defined outside the harness package: a trivial SMTP sink (a perl script on the Debian base image)
that answers like an MTA offering XCLIENT and logs every line it receives. Importing this module registers it,
so `pytest -p tests.extension_kind` runs scenarios with `kind: sink` without any edit of the harness."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from harness.kinds import registry
from harness.kinds.base import ImageRecipe, NodeImage, NodeKind, NodeModel, dockerfile_recipe, node_container
from harness.observe.events import Event, NodeObservation
from harness.plan.versions import ServerRelease
from harness.provision.spec import ContainerSpec

if TYPE_CHECKING:
    from harness.plan.topology import NodePlan, Plan
    from harness.provision.container import NodeContainer

FOLDER = Path(__file__).resolve().parent
PORT = 25
_RECEIVED = re.compile(r"^sink< (?P<verb>\S*) ?(?P<args>.*)$")


class SinkNode(NodeModel):
    """An SMTP sink: greets, offers XCLIENT, accepts everything, logs each line."""

    kind: Literal["sink"]
    greeting: str = "sink ESMTP"


class SinkKind(NodeKind):
    name = "sink"
    model = SinkNode
    family = "sink"
    releases = (ServerRelease("sink", "1.0", "bookworm"),)
    version_command = ("perl", "/opt/sink/sink.pl", "--version")
    serves = ()
    categories = frozenset({"line"})

    def observable(self, spec: NodeModel) -> frozenset[str]:
        return self.categories

    def recipe(self, release: ServerRelease | None) -> ImageRecipe:
        assert release is not None
        return dockerfile_recipe("sink", release.suite, FOLDER, {"sink.pl": (FOLDER / "sink.pl").read_bytes()})

    def container_spec(self, node: NodePlan, plan: Plan, image: NodeImage, labels: Mapping[str, str]) -> ContainerSpec:
        assert isinstance(node.spec, SinkNode)
        return node_container(node, image, labels, ("perl", "/opt/sink/sink.pl", node.spec.greeting))

    def ready(self, node: NodePlan, container: NodeContainer) -> bool:
        return (container.greeting(PORT) or "").startswith("220 ")

    def observe(self, node: NodePlan, image: NodeImage, log: str) -> NodeObservation:
        events = tuple(Event("line", {"verb": match["verb"].upper(), "args": match["args"]}, line)
                       for line in log.splitlines() if (match := _RECEIVED.match(line)))
        return NodeObservation(node.name, f"sink {image.short_version}", events, log)


KIND = registry.register(SinkKind())
