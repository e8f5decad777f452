"""WebSocket compression (permessage-deflate, marketplace/serve.py) on a real Daphne
started as production starts it: accepted when offered, and it cuts a text task's
bytes on the wire (counted by bench/ws_bytes.py's proxy, the bench's own code)."""

import asyncio

import pytest

from bench.ws_bytes import make_data, one_worker, session_for
from tests.daphne import DaphneProcess

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_compressing_client_pays_far_fewer_bytes_per_text_task():
    plain_worker, deflate_worker = make_data("t", tasks=6)
    daphne = DaphneProcess().start()
    try:
        plain = asyncio.run(
            one_worker(daphne.port, session_for(plain_worker), compress=False, tasks=6)
        )
        deflate = asyncio.run(
            one_worker(daphne.port, session_for(deflate_worker), compress=True, tasks=6)
        )
    finally:
        daphne.stop()
    assert plain["extensions"] is None
    # Our window, asked of the client too, keeps the server's inflate state small.
    assert deflate["extensions"].startswith("permessage-deflate")
    assert "client_max_window_bits=12" in deflate["extensions"]
    assert deflate["down"] < plain["down"] / 2, (plain, deflate)
    assert deflate["up"] < plain["up"], (plain, deflate)
