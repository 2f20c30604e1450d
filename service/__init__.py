"""Witryna's request path: a page view in, a personalised decision out."""
