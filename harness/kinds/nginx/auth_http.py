"""The auth_http endpoint an nginx node's mail proxy asks before every proxied session; it runs beside nginx in
the node's container. Stdlib only (python3 of the Debian image), one file.

Every request is answered `Auth-Status: OK` with the node's backend (`Auth-Server`) and the port of the protocol
(`Auth-Port`): the protocol is the last part of the URI (`/auth/submission`, one `auth_http` per `server {}`),
else nginx's `Auth-Protocol` header. Each request is printed as one JSON line on stdout, with what nginx sent
(method, URI, headers in their order and spelling) and what it was answered, so the harness sees what nginx knew
of the client: Client-IP, Auth-User, Auth-SMTP-Helo, ...

Usage: python3 auth_http.py '<json config>'   config: {"listen": [host, port], "server": addr, "ports": {...}}
"""

from __future__ import annotations

import json
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

DEFAULT_PORTS = {"imap": 143, "pop3": 110, "smtp": 25, "submission": 587}


def protocol_of(uri: str, headers: list[tuple[str, str]]) -> str:
    """`/auth/submission` -> submission; otherwise nginx's Auth-Protocol header (imap, pop3, smtp)."""
    last = uri.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if last and last != "auth":
        return last
    return next((value for name, value in headers if name.lower() == "auth-protocol"), "")


def answer(uri: str, headers: list[tuple[str, str]], config: dict) -> list[tuple[str, str]]:
    """The response headers for one auth request: OK, to the configured server on the protocol's port."""
    ports = {**DEFAULT_PORTS, **config.get("ports", {})}
    protocol = protocol_of(uri, headers)
    port = ports.get(protocol)
    if port is None or not config.get("server"):
        return [("Auth-Status", f"mailhops: no backend for protocol {protocol!r}"), ("Auth-Wait", "0")]
    return [("Auth-Status", "OK"), ("Auth-Server", str(config["server"])), ("Auth-Port", str(port))]


def record(method: str, uri: str, headers: list[tuple[str, str]], answered: list[tuple[str, str]]) -> dict:
    """One request as the JSON record the harness reads."""
    return {"event": "auth_http", "method": method, "uri": uri, "headers": [list(pair) for pair in headers],
            "answer": [list(pair) for pair in answered]}


def emit(data: dict) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def handler_for(config: dict) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            headers = list(self.headers.items())
            answered = answer(self.path, headers, config)
            emit(record(self.command, self.path, headers, answered))
            self.send_response(200)
            for name, value in answered:
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """The JSON record says it all; http.server's own access lines would only add noise."""

    return Handler


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(config: dict) -> Server:
    """A bound server (not yet serving); `listen` [host, port], port 0 picks one."""
    host, port = config.get("listen", ["127.0.0.1", 9000])
    return Server((host, int(port)), handler_for(config))


def main(argv: list[str]) -> int:
    config = json.loads(argv[1]) if len(argv) > 1 else {}
    server = serve(config)
    emit({"event": "ready", "listen": list(server.server_address[:2]), "ports": config.get("ports", {})})
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
