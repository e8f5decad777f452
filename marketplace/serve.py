"""Daphne with WebSocket compression: `python -m marketplace.serve` takes exactly
Daphne's command line (the Makefile, the Dockerfile and docker-compose.yml start it).

Daphne's WebSocket factory (autobahn) speaks permessage-deflate (RFC 7692) but
accepts no offer unless told to, and Daphne offers no option for it. Browsers and
the `websockets` client offer it on every socket; accepted, a text task's JSON costs
a worker's phone about a third of its bytes down (bench/ws_bytes.py has the figures).

Memory is the price, per open socket: small windows keep it near 40 KB (zlib's
deflate state is 2**(window_bits + 2) + 2**(mem_level + 9) bytes, inflate's
2**window_bits) instead of the ~300 KB of zlib's defaults. 4 KB of history still
holds the last few messages, which is where the repetition is (one task's message
is mostly the previous one's keys and set)."""

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from daphne.cli import CommandLineInterface as DaphneCommandLine
from daphne.server import Server

WINDOW_BITS = 12  # 4 KB of history, each direction
MEM_LEVEL = 5  # zlib's 8 costs 128 KB a socket; 5 costs 16 KB, for a few bytes more


def accept_deflate(offers: list) -> PerMessageDeflateOfferAccept | None:
    """The first permessage-deflate offer, with our window asked of the client too
    (so the server's inflate window is small); None leaves the socket uncompressed."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            if offer.request_max_window_bits and offer.request_max_window_bits < WINDOW_BITS:
                window_bits = offer.request_max_window_bits
            else:
                window_bits = WINDOW_BITS
            return PerMessageDeflateOfferAccept(
                offer,
                request_max_window_bits=WINDOW_BITS if offer.accept_max_window_bits else 0,
                window_bits=window_bits,
                mem_level=MEM_LEVEL,
            )
    return None


class CompressingServer(Server):
    # Server.run() builds its WebSocket factory and then blocks in the reactor, with no
    # hook between: the factory is given our option as it is assigned. run() then sets
    # its own options through setProtocolOptions, which leaves others as they are.
    @property
    def ws_factory(self):
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory) -> None:
        factory.setProtocolOptions(perMessageCompressionAccept=accept_deflate)
        self._ws_factory = factory


class CommandLineInterface(DaphneCommandLine):
    server_class = CompressingServer


if __name__ == "__main__":
    CommandLineInterface.entrypoint()
