"""Type-ahead: keys typed before the screen meant to receive them is ready.

Over a laggy SSH link ``Space Down Down Space Enter`` arrives in one read.
Textual hands each key to whatever has focus the moment the app reads it, so
a key typed while the checklist was still writing a tick, or while the next
screen was being built, went to the wrong screen or was judged against a
state that was about to change.  A burst and the same keys typed slowly must
do the same thing, so the app routes every key through ``TypeAhead``:

* a key is delivered only when the active screen says it accepts keys
  (``accepts_keys``: mounted, its focus set, no tick or plan in flight, no
  "continue when ready" pending) and the key before it has been handled all
  the way up its widget chain (``settle``); until then keys wait, in order;
* ``escape`` and ``ctrl+c`` / ``ctrl+q`` are never held: they drop what is
  waiting and act at once, so the operator can always stop;
* whatever fails (a screen shows an error line, a verification does not
  pass) drops the keys typed ahead: nothing typed blind runs past a failure.

Screens that are not wizard steps accept keys at once, as before.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from textual import events

if TYPE_CHECKING:
    from textual.app import App
    from textual.message_pump import MessagePump

#: Keys that are never held: they stop things.
NEVER_HELD = frozenset({"escape", "ctrl+c", "ctrl+q"})
#: How often waiting keys look again whether the screen accepts them (a safety net: screens
#: also say so at once through ``TypeAhead.poke``).
RECHECK_S = 0.05
#: Walks up the widget chain after a key (see ``TypeAhead._settle``): at least, and at most.
MIN_WALKS = 2
MAX_WALKS = 6
#: A key whose travel up the widget chain was cut short (its screen closed under it) stops
#: holding the next one after this long.
SETTLE_LIMIT_S = 0.5


class AcceptsKeys(Protocol):
    """A screen that can say it is not ready for the next key yet."""

    @property
    def accepts_keys(self) -> bool: ...


class TypeAhead:
    """Holds keys in order until the active screen is ready; see the module docstring."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.waiting: deque[events.Key] = deque()
        #: A key was delivered and has not finished travelling up its widget chain yet.
        self.settling = False
        #: Something outside a screen is preparing the next screen (the app's own worker
        #: that opens the rollback wizard).
        self.busy_reasons: set[str] = set()
        self.dropped = 0
        self._deliveries = 0
        self._rechecking = False

    # ----------------------------------------------------------------- state

    def busy(self, reason: str) -> None:
        self.busy_reasons.add(reason)

    def idle(self, reason: str) -> None:
        self.busy_reasons.discard(reason)
        self.poke()

    @property
    def ready(self) -> bool:
        """Whether the next key can be delivered now."""
        if self.settling or self.busy_reasons:
            return False
        return bool(getattr(self.app.screen, "accepts_keys", True))

    # ----------------------------------------------------------------- keys

    def take(self, event: events.Key) -> bool:
        """Called for every key the app reads; True when the key is held (or dropped).

        A key that is not held is delivered by the caller and then settles.
        """
        if event.key in NEVER_HELD:
            self.drop()
            return False
        if self.waiting or not self.ready:
            self.waiting.append(event)
            self._recheck_later()
            return True
        return False

    def delivered(self, target: MessagePump) -> None:
        """A key was just handed to Textual, aimed at ``target``: hold the next key until it
        has settled (or, should its screen close under it, for ``SETTLE_LIMIT_S``)."""
        self.settling = True
        self._deliveries += 1
        number = self._deliveries
        self.app.set_timer(SETTLE_LIMIT_S, lambda: self._settled(number))
        self._settle(target, number)

    def drop(self) -> int:
        """Forget the keys typed ahead (something failed, or the operator stopped)."""
        count = len(self.waiting)
        self.waiting.clear()
        self.dropped += count
        return count

    def poke(self) -> None:
        """A screen may have become ready: deliver the next waiting key if so."""
        if self.waiting:
            self.app.call_later(self._deliver_next)

    # ----------------------------------------------------------------- internals

    def _settle(self, node: MessagePump, number: int, walk: int = 1) -> None:
        """Walk up after the key: a callback queued behind it on every node it bubbles to.

        Each node handles the key before the callback; the callback then queues
        the next one on the parent, behind the key the node passed up.  At the
        top (the app, which runs the bindings) the key is handled, but what it
        set off may not be: a binding posts a message (a table's Enter posts
        RowSelected, whose handler opens the next screen).  So the walk starts
        again from the focused widget, at least ``MIN_WALKS`` times and until
        no widget of the active screen has a message waiting.
        """
        parent = node._parent
        walking_on = parent is not None and node is not self.app
        if walking_on and node.call_later(self._settle, parent, number, walk):
            return
        self.app.call_later(self._walked, number, walk)

    def _walked(self, number: int, walk: int) -> None:
        if walk < MAX_WALKS and (walk < MIN_WALKS or not self._quiet()):
            self._settle(self.app.focused or self.app.screen, number, walk + 1)
            return
        self._settled(number)

    def _quiet(self) -> bool:
        """No message waits on the app's active screen or any of its widgets."""
        screen = self.app.screen
        return all(node.message_queue_size == 0 for node in (screen, *screen.walk_children()))

    def _settled(self, number: int) -> None:
        if number != self._deliveries or not self.settling:
            return
        self.settling = False
        self.poke()

    async def _deliver_next(self) -> None:
        if not self.waiting or not self.ready:
            return
        event = self.waiting.popleft()
        deliver = getattr(self.app, "deliver_key", None)
        if deliver is not None:
            await deliver(event)

    def _recheck_later(self) -> None:
        if not self._rechecking:
            self._rechecking = True
            self.app.set_timer(RECHECK_S, self._recheck)

    def _recheck(self) -> None:
        self._rechecking = False
        if not self.waiting:
            return
        if self.ready:
            self.app.call_later(self._deliver_next)
        self._recheck_later()
