"""The bus runtime: the only package that talks to nats-py. Import everything from `pagi.bus`.

One job per module, all private behind this one public surface:

- `_client`: the connection (`Bus`): connect with reconnect, publish events (msg-id dedupe, trace
  headers, bounded retry), dead letters, core messages (observe, listen, announce), and the doors
  to the pieces below, so a service holds one object.
- `_consume`: the consume loop (`PullConsumer`): ack after the handler, nak with delay, dead letters.
- `_raw_consume`: the same for messages that are not events (`RawPullConsumer`: schedule firings).
- `_history`: what the stream stored (`read_events`, `read_stream`, `last_event`).
- `_tail`: the ordered tail (`Tail`): a stream read in order, then live, surviving lost consumers.
- `_topology`: streams, durable consumers, KV buckets, object stores, and their state.
- `_reply`: core request/reply (a question answered on the asker's inbox, never stored).
- `_stream_request`: request over the stream (publish a request event, wait for its result event).
- `_errors`, `_subscription`: what the others share (transient errors, a stoppable subscription).
"""

from ._client import Bus, EventCallback, RawCallback, ReconnectHook
from ._consume import Delivery, Handler, PullConsumer, Reject
from ._errors import TRANSIENT_ERRORS, BusUnavailable, PublishRefused
from ._history import StoredMessage
from ._raw_consume import RawHandler, RawMessage, RawPullConsumer
from ._stream_request import PendingReply, ReplyTimeout, StreamReplies, request_over_stream, stream_replies
from ._subscription import Observer
from ._tail import SeqCallback, Tail, TailStart
from ._topology import ConsumerState, StreamState

__all__ = [
    "TRANSIENT_ERRORS",
    "Bus",
    "BusUnavailable",
    "ConsumerState",
    "Delivery",
    "EventCallback",
    "Handler",
    "Observer",
    "PendingReply",
    "PublishRefused",
    "PullConsumer",
    "RawCallback",
    "RawHandler",
    "RawMessage",
    "RawPullConsumer",
    "ReconnectHook",
    "Reject",
    "ReplyTimeout",
    "SeqCallback",
    "StoredMessage",
    "StreamReplies",
    "StreamState",
    "Tail",
    "TailStart",
    "request_over_stream",
    "stream_replies",
]
