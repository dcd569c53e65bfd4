"""Half-duplex buses: one request in flight per bus, lanes, links and backoff."""
