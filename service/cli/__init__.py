"""The `witryna` command: serve, publish, load-catalog, export-events. Training and the
benchmark add theirs through the ``witryna.commands`` entry point."""
