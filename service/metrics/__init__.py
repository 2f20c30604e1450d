"""Metrics: in-process counters, pooled across a server's workers through Redis, exposed by
prometheus-client."""
