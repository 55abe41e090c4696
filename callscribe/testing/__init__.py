"""Helpers that build test fixtures locally: a random-weight Whisper model and synthetic calls.

Nothing here downloads anything; tests, benchmarks and the demo all use these.
"""
