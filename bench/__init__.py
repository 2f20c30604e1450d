"""`witryna bench`: the service measured against its floor, out of the request path."""
