"""IRC interface plugin for gateways (see docs/irc.md).

Nothing here imports ``irc`` at import time: that package pulls in typer, pydantic and
rich, and ``gateways plugins`` should stay quick.
"""
