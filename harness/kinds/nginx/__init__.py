"""The `nginx` node kind."""

from harness.kinds.nginx.kind import NginxKind

KIND = NginxKind()
