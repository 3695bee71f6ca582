"""A pausable TCP proxy on loopback, to play a server that accepts connections and never answers.

Put it in front of PostgreSQL (or anything): :meth:`TcpProxy.pause` stops forwarding bytes in
both directions, on open connections and on new ones (which are still accepted), as a server
whose process is stopped or whose network has gone quiet would; :meth:`TcpProxy.resume`
forwards them again.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

from tests.s3server import free_port


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``; a context manager."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pause(self) -> None:
        """Stop forwarding: bytes sent either way wait in the proxy's socket buffers."""
        self._forwarding.clear()

    def resume(self) -> None:
        """Forward again."""
        self._forwarding.set()

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._closed.set()
        self._forwarding.set()
        self._listener.close()
        for sock in list(self._sockets):
            sock.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                self._forwarding.wait()
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable or not self._forwarding.is_set():
                    continue
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except (OSError, ValueError):
            # Closed under us (a socket closed by stop() has no descriptor: select() raises
            # ValueError), which ends this direction as a reset would.
            return
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
