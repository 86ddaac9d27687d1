"""The `relay` node kind."""

from harness.kinds.relay.kind import RelayKind

KIND = RelayKind()
