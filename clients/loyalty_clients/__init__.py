"""Typed clients for every channel of the loyalty service; the generated stubs live in `loyalty.v1`."""
