"""New-head notifications over WebSocket (``eth_subscribe("newHeads")``), to poll at once.

The watcher stays a poller: a notification only ends its pause early, so a
lost or late notification costs at most one poll interval, and everything
that matters (hashes, confirmations, checkpoints) still comes from the polls.
The subscription runs in a daemon thread and reconnects with backoff.
"""

from __future__ import annotations

import json
import logging
import threading

__all__ = ["HeadNotifier"]

log = logging.getLogger(__name__)


class HeadNotifier:
    """Subscribe to new heads on `url` (``ws://`` or ``wss://``) and wake `wait` callers.

    Parameters
    ----------
    url
        The node's WebSocket URL; it may embed an API key, so it is never logged.
    max_backoff_s
        Longest pause between reconnection attempts.
    """

    def __init__(self, url: str, *, max_backoff_s: float = 30.0) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError("head notifications need a ws:// or wss:// URL")
        self._url = url
        self._max_backoff_s = max_backoff_s
        self._new_head = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heads_seen = 0
        self.connected = threading.Event()

    def start(self) -> HeadNotifier:
        """Start the subscription thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vigil-heads", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the subscription thread."""
        self._stop.set()
        self._new_head.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for a new head; True if one arrived."""
        arrived = self._new_head.wait(timeout_s)
        self._new_head.clear()
        return arrived

    def _run(self) -> None:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with connect(self._url, open_timeout=10, close_timeout=2) as ws:
                    ws.send(
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "id": 1,
                                "method": "eth_subscribe",
                                "params": ["newHeads"],
                            }
                        )
                    )
                    ack = json.loads(ws.recv(timeout=10))
                    if "error" in ack:
                        log.warning("node refused newHeads subscription: %s", ack["error"])
                        return  # polling alone still works
                    self.connected.set()
                    backoff = 0.5
                    while not self._stop.is_set():
                        try:
                            message = ws.recv(timeout=1.0)
                        except TimeoutError:
                            continue
                        if '"eth_subscription"' in str(message):
                            self.heads_seen += 1
                            self._new_head.set()
            except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
                self.connected.clear()
                log.info(
                    "newHeads subscription lost (%s); reconnecting in %.1fs",
                    type(exc).__name__,
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
