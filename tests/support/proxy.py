"""A TCP proxy on loopback that can be cut: what a service going away looks like to its
clients (PostgreSQL stopped: open connections reset, new ones refused), without stopping the
server every other test shares."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``target``. ``cut()`` resets every connection and
    refuses new ones (the listening socket is closed); ``restore()`` listens again on the
    same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.cut_at: float | None = None
        self.restored_at: float | None = None
        self.restore()

    def url(self, url: str) -> str:
        """``url`` with its host:port replaced by the proxy's."""
        host = f"{self.target[0]}:{self.target[1]}"
        assert host in url, url
        return url.replace(host, f"127.0.0.1:{self.port}")

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self.restored_at = time.monotonic()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        self.cut_at = time.monotonic()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _reset(sock)

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                # A cut between accept() and here must not leave this pair open.
                cut = self._listener is not listener
                if not cut:
                    self._open |= {client, upstream}
            if cut:
                _reset(client)
                _reset(upstream)
                return
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open -= {source, sink}


def _reset(sock: socket.socket) -> None:
    """Reset ``sock`` as a stopped server would. ``shutdown`` first: closing a socket does
    not wake a thread blocked in ``recv`` on it, so without it the pipe thread keeps the
    other side open, and a PostgreSQL backend outlives the cut with its locks."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
