"""A TCP proxy for tests that can stop passing packets without closing anything ("drop"), as a
network partition does, unlike a refused connection. Used for PostgreSQL and Redis."""
from __future__ import annotations

import select
import socket
import threading


class DroppingProxy:
    """Forwards 127.0.0.1:<port> to a target; `drop()` silently stops all traffic (new
    connections are accepted and then hear nothing), `restore()` lets it flow again."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.dropping = threading.Event()
        self.closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self) -> None:
        self.dropping.set()

    def restore(self) -> None:
        self.dropping.clear()

    def close(self) -> None:
        self.closed.set()
        for sock in [self.listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        self._sockets.append(upstream)
        pair = {client: upstream, upstream: client}
        while not self.closed.is_set():
            try:
                ready, _, _ = select.select(list(pair), [], [], 0.2)
            except (OSError, ValueError):
                return
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    for each in pair:
                        each.close()
                    return
                if not self.dropping.is_set():  # dropped: read and thrown away, never answered
                    try:
                        pair[sock].sendall(data)
                    except OSError:
                        return
