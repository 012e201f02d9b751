# aws: the AWS client against the Node twin (signatures checked with @smithy/signature-v4) and
# s3rver, both installed with npm into the build tree; skipped when npm or the registry is
# unavailable.
if(TARGET test_aws_live)
  rt_integration_test(aws_live aws_live.py TIMEOUT 900)
  set_tests_properties(aws_live PROPERTIES SKIP_RETURN_CODE 77)
endif()
