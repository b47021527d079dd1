"""The cloud part of the simulator."""
