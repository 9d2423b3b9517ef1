"""The simulator's event record: a contract payload plus its topic, key and sort position."""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import NamedTuple

#: Topics in the order used to break ties between events at the same second:
#: list entries first, then chain, then platform events.
TOPICS: tuple[str, ...] = ("sanctions", "transfers", "tasks", "quality", "payouts")
TOPIC_RANK: dict[str, int] = {t: i for i, t in enumerate(TOPICS)}

JSONObject = dict[str, object]


class Event(NamedTuple):
    """One simulated message.

    Parameters
    ----------
    ts
        Event time in Unix seconds (completion, scoring, payment, block or listing time).
    rank
        `TOPIC_RANK` of the topic: the first tie-breaker after `ts`.
    event_id
        The payload's ``event_id``: the second tie-breaker.
    topic
        Topic name without prefix (``tasks``, ``quality``, ...).
    key
        Kafka key: worker id, lower-case ``from`` address or listed address.
    payload
        The contract JSON object.
    """

    ts: int
    rank: int
    event_id: str
    topic: str
    key: str | None
    payload: JSONObject


def make_event(ts: int, topic: str, key: str | None, payload: JSONObject) -> Event:
    """Return an `Event`, taking the sort fields from the topic and the payload.

    Examples
    --------
    >>> make_event(5, "tasks", "w-1", {"event_id": "t-1"}).rank
    2
    """
    return Event(ts, TOPIC_RANK[topic], str(payload.get("event_id", "")), topic, key, payload)


#: Replay order of events: time, topic rank, event id (``events.sort(key=sort_key)``).
sort_key: Callable[[Event], tuple[int, int, str]] = itemgetter(0, 1, 2)
