"""The whole loop on every AWS driver against the aws-twin with a seeded 10% of the daemon's
signed calls answered by throttling or a 5xx (routes/chaos.js): it ends in the same state as
aws_loop.py (aws_scenario.py). RT_CHAOS_SEED picks another fault sequence."""
import os

from aws_scenario import main

main(fault_rate=0.10, seed=int(os.environ.get("RT_CHAOS_SEED", "7")))
