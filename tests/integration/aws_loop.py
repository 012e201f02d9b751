"""The whole loop on every AWS driver against the aws-twin, no faults (aws_scenario.py)."""
from aws_scenario import main

main(fault_rate=0.0)
