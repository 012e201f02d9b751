# sigv4: `retraind sign` on the conformance suite and its CLI contract; the differential test
# against the AWS SDK's own signer (@smithy/signature-v4, installed with npm into the build tree;
# skipped when npm or the registry is unavailable).
rt_integration_test(sigv4_sign_suite sigv4_sign_suite.py TIMEOUT 120)
rt_integration_test(sigv4_diff_smithy sigv4_diff_smithy.py TIMEOUT 600)
set_tests_properties(sigv4_sign_suite sigv4_diff_smithy PROPERTIES SKIP_RETURN_CODE 77)
