"""ZeroMQ transport: wire format v1, publisher, and the consumer-side Subscriber."""

from streamdeblur.transport.publisher import Publisher
from streamdeblur.transport.subscriber import Subscriber
from streamdeblur.transport.wire import Header

__all__ = ["Header", "Publisher", "Subscriber"]
