"""Local simulators of the Follow Up Boss and reZEN APIs: real HTTP servers on loopback.

    with FubSimulator(seed=1, people=500) as fub:
        FubClient("any-key", fub.base_url) ...

Each simulator also serves test hooks for other processes (see `SimulatorControl`):
`POST /_sim/mutate` (JSON `{"api_key": ..., "people": 10}`), `GET /_sim/stats[?api_key=]`,
`GET /_sim/dataset?api_key=`, `POST /_sim/configure` (faults: `{"error_rate": 1.0}`) and
`GET /_sim/health`.
"""

from .control import SimulatorControl
from .fub import FubSimulator
from .rezen import RezenSimulator
from .stats import KeyStats

__all__ = ["FubSimulator", "KeyStats", "RezenSimulator", "SimulatorControl"]
