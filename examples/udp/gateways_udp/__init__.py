"""gateways-udp: an example third-party plugin, a UDP datagram interface (see plugin.py)."""
