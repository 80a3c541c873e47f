"""Event kinds of the cluster loop, in their order at one instant: a batch finishing or a
PET landing frees capacity before a fault; arrivals see the result; timers and balancer
rounds come last."""
from enum import IntEnum


class Kind(IntEnum):
    DONE = 0
    LANDED = 1
    FAULT = 2
    ARRIVAL = 3
    TIMER = 4
    TICK = 5
