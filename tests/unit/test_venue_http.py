"""The venues' HTTP session on urllib3: what a venue that cannot be reached, or is silent, becomes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from deadman.venues.errors import TransientError
from deadman.venues.http import HttpTransport, PooledSession

REFUSED = "http://127.0.0.1:9"  # the discard port: nothing listens there (as the CLI tests use it)


@pytest.fixture
def venue() -> Iterator[str]:
    """Answers every POST 200 with bytes that are not all UTF-8, echoing the request's length."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the venues

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            answer = b'{"n": %d, "x": "\xff"}' % len(body)
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_and_a_kept_connection(venue: str) -> None:
    transport = HttpTransport("kraken", venue, timeout=(1.0, 1.0))
    first = transport.post("/0/private/X", body=b"abc", headers={"API-Key": "k"})
    second = transport.post("/0/private/X", body=b"abcdef", headers={})
    assert (first.status, first.text) == (200, '{"n": 3, "x": "\ufffd"}')
    assert second.json() == {"n": 6, "x": "\ufffd"}
    transport.close()


def test_a_refused_connection_is_transient_and_names_no_header() -> None:
    transport = HttpTransport("gemini", REFUSED, timeout=(1.0, 1.0))
    with pytest.raises(TransientError) as info:
        transport.post("/v1/heartbeat", body=b"", headers={"X-GEMINI-APIKEY": "secret-key"})
    assert "connection failed on /v1/heartbeat: NewConnectionError" in str(info.value)
    assert "secret-key" not in str(info.value) and info.value.__cause__ is None


def test_a_silent_venue_is_a_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(TransientError, match=r"timeout after 0.2 s on /exchange"):
            HttpTransport("hyperliquid", url, timeout=(1.0, 0.2)).post("/exchange", body=b"{}", headers={})


def test_a_dropped_answer_is_transient() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def drop() -> None:
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()  # no answer at all

        threading.Thread(target=drop, daemon=True).start()
        session = PooledSession()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(TransientError, match="connection failed on /0/private/X: ProtocolError"):
            HttpTransport("kraken", url, timeout=(1.0, 2.0), session=session).post(
                "/0/private/X", body=b"x", headers={}
            )
