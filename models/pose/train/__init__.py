"""Training: the loop, its configuration and schedule, DDP, the run
directory and log, the loss, and the state every checkpoint carries."""
