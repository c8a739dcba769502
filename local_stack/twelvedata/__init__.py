"""Twelve Data stand-in: replays a recording over the real WebSocket protocol and REST time_series."""
