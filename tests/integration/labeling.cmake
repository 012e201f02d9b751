# Labeling jobs (#10). The Ground Truth manifest checker's own self-test: good manifests pass,
# each kind of bad line is caught by number (Python stdlib only, always runs).
add_test(NAME gt_manifest_check COMMAND python3
         ${CMAKE_CURRENT_SOURCE_DIR}/integration/gt_manifest_check_test.py)
set_tests_properties(gt_manifest_check PROPERTIES LABELS unit TIMEOUT 60)
rt_integration_test(it_labeling_auto labeling_auto.py TIMEOUT 600)
rt_integration_test(it_labeling_crash labeling_crash.py TIMEOUT 900)
