"""Redis: the client and our own pipe, every key name and Lua script, events, identity, the
catalogue and its cache, the log streams and their writer, the embedded redis-server."""
