"""Which of a page's node clicks is the newest, so a late answer never overwrites a newer one.

A node click reaches Python as a custom event whose data (the node id) is the point. Gradio's
trigger modes do not fit it: "once" drops a click made while the last one is answered, and
"always_last" (Gradio 6.31) replays the *pending* event's data when it runs the deferred one,
so a quick second click (or arrow key) showed the first node again while the tree ringed the
second. Clicks therefore run with "multiple", and each carries the page's click counter
(``seq``, ``ui/static/tree.js``); a handler works out its answer, then asks
:meth:`ClickOrder.newest` and skips it when a newer click of that page was answered meanwhile
(asking before the work would let a slow older answer through after a fast newer one)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class ClickOrder:
    """The newest click counter answered per (page session, listener); bounded (least recently
    used sessions are forgotten: a forgotten page's next click is simply answered)."""

    def __init__(self, most: int = 4096) -> None:
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = threading.Lock()
        self._most = most

    def newest(self, request: Any, listener: str, data: dict[str, Any]) -> bool:
        """True when this click should be answered: no counter or no session to compare (an
        older page, a direct call), or a counter at least as new as any answered."""
        seq = data.get("seq")
        session = getattr(request, "session_hash", None) if request is not None else None
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(session, str):
            return True
        key = (session, listener)
        with self._lock:
            if seq < self._seen.get(key, -1):
                return False
            self._seen[key] = seq
            self._seen.move_to_end(key)
            while len(self._seen) > self._most:
                self._seen.popitem(last=False)
        return True
