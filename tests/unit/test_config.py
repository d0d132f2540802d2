"""The services' settings module: protocol limits agree with the SDK's."""

from __future__ import annotations

from motet import payload
from motet.canvas import MAX_DEPTH
from motet_server import config


def test_canvas_limits_equal_the_sdks() -> None:
    # A canvas the SDK accepts must not be refused by the scheduler, nor the reverse.
    assert config.MAX_DEPTH == MAX_DEPTH
    assert config.MAX_PAYLOAD_BYTES == payload.MAX_PAYLOAD_BYTES
