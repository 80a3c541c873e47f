"""Event kinds of the cluster loop. At the same instant a batch finishing or a PET
landing frees capacity before a fault; arrivals see the result; timers and balancer
rounds come last."""
DONE, LANDED, FAULT, ARRIVAL, TIMER, TICK = range(6)
RECOVER = "recover"  # a migration from the host store after a worker died
