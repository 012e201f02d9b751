# Headless Chromium against the real daemon (tests/browser/; skipped, exit 77, without Debian's
# chromium or tests/browser/node_modules; scripts/setup.sh installs both).
rt_integration_test(it_browser_portal browser_portal.py TIMEOUT 400)
rt_integration_test(it_browser_dashboard browser_dashboard.py TIMEOUT 400)
rt_integration_test(it_browser_label_job browser_label_job.py TIMEOUT 400)
