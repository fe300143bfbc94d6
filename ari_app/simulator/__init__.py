"""An ARI server that behaves like Asterisk 22 for the calls callback makes (see docs/simulator.md)."""

from .scenario import Callee, Scenario, ScenarioError
from .server import SimulatorServer, create_simulator_app, serve

__all__ = ["Callee", "Scenario", "ScenarioError", "SimulatorServer", "create_simulator_app", "serve"]
