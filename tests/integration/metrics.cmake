# /metrics and status figures against the real daemon: counters move with the work; sampling.
rt_integration_test(it_metrics metrics.py TIMEOUT 400)
rt_integration_test(it_sampling_loop sampling_loop.py TIMEOUT 400)
