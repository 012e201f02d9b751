# The whole loop on the real daemon through the HTTP portal (issue #8, "Must be shown by tests"):
# labeled images -> training -> detection -> review tasks answered through the portal -> copies
# and A2I output -> the next training; the portal's refusals with real tasks; kill -9 in the
# middle of detection and review. Shared code: looplib.py, portal_client.py (sign-in, CSRF,
# answers as a browser makes them).
rt_integration_test(it_review_loop review_loop.py TIMEOUT 600)
rt_integration_test(it_review_refusals review_refusals.py TIMEOUT 600)
rt_integration_test(it_review_crash review_crash.py TIMEOUT 600)
