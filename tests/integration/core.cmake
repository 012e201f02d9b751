rt_integration_test(it_cli_contract cli_contract.py TIMEOUT 120)
rt_integration_test(it_demo_story demo_story.py TIMEOUT 400)
rt_integration_test(it_crash_recovery crash_recovery.py TIMEOUT 1200)
rt_integration_test(it_not_deployed not_deployed.py TIMEOUT 300)
