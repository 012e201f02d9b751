# Labeling jobs (#10). The Ground Truth manifest checker's own self-test: good manifests pass,
# each kind of bad line is caught by number (Python stdlib only, always runs).
add_test(NAME gt_manifest_check COMMAND python3
         ${CMAKE_CURRENT_SOURCE_DIR}/integration/gt_manifest_check_test.py)
set_tests_properties(gt_manifest_check PROPERTIES LABELS unit TIMEOUT 60)
# Labeling jobs on the real daemon (tests/integration/labeling_*.py, shared code in
# labeling_lib.py): simulated workers as API tokens answering through the HTTP API.
rt_integration_test(labeling_cli labeling_cli.py TIMEOUT 120)
rt_integration_test(labeling_crowd labeling_crowd.py TIMEOUT 240)
rt_integration_test(labeling_restart labeling_restart.py TIMEOUT 240)
rt_integration_test(labeling_verify labeling_verify.py TIMEOUT 180)
rt_integration_test(labeling_more_workers labeling_more_workers.py TIMEOUT 120)
rt_integration_test(labeling_concurrent labeling_concurrent.py TIMEOUT 120)
rt_integration_test(it_labeling_auto labeling_auto.py TIMEOUT 600)
rt_integration_test(it_labeling_crash labeling_crash.py TIMEOUT 900)
