"""The common part of the simulator."""
