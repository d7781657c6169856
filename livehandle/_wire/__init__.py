"""L0 protocol: Gemini Live messages as data, and their JSON codec. No I/O."""

from __future__ import annotations

from livehandle._wire import messages as messages
from livehandle._wire.codec import (
    decode_client as decode_client,
    decode_server as decode_server,
    encode_client as encode_client,
    encode_realtime_audio as encode_realtime_audio,
    encode_server as encode_server,
)
from livehandle._wire.messages import *  # noqa: F403  # every message class, listed in messages.__all__
from livehandle._wire.messages import __all__ as _message_names

__all__ = [
    "decode_client",
    "decode_server",
    "encode_client",
    "encode_realtime_audio",
    "encode_server",
    "messages",
]
__all__ += _message_names
