"""The `haproxy` node kind."""

from harness.kinds.haproxy.kind import HaproxyKind

KIND = HaproxyKind()
