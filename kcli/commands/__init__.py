"""Thin commands: parse arguments, make one call into the client/store API, render."""
