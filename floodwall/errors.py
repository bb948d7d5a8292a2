"""Errors a user can cause and fix. The CLI prints them as one line, never as a traceback."""


class FloodwallError(Exception):
    """A failure with a message meant for the person running Floodwall."""


class ConfigError(FloodwallError):
    """A setting is unknown, malformed or out of range. Raised before any I/O."""


class StackError(FloodwallError):
    """A part of the local stack could not be started, reached or stopped."""
