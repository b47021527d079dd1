"""The server part of the simulator."""
