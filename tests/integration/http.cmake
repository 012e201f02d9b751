# The HTTP server inside the daemon: healthz, metrics, the API with bearer tokens, status.
rt_integration_test(it_http_api http_api.py TIMEOUT 120)
rt_integration_test(it_http_signin http_signin.py TIMEOUT 120)
rt_integration_test(it_http_label_jobs http_label_jobs.py TIMEOUT 180)
