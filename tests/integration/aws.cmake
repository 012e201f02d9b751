# aws: the AWS client against the Node twin (signatures checked with @smithy/signature-v4) and
# s3rver, both installed with npm into the build tree; skipped when npm or the registry is
# unavailable. The test_aws_live binary is defined in unit/aws.cmake (included after this file,
# so test for its source rather than its target).
if(TARGET rt_aws AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_aws_live.c)
  rt_integration_test(aws_live aws_live.py TIMEOUT 900)
  set_tests_properties(aws_live PROPERTIES SKIP_RETURN_CODE 77)
endif()
# ssm_sns: the daemon with parameters in SSM and notifications over SNS, against the twin.
if(TARGET rt_aws)
  rt_integration_test(ssm_sns ssm_sns.py TIMEOUT 400)
  set_tests_properties(ssm_sns PROPERTIES SKIP_RETURN_CODE 77)
endif()
# takeover: a fresh retraind adopts a reference-solution deployment's state from
# For-System-Use-Only (count and active version) and overwrites nothing.
if(TARGET rt_aws)
  rt_integration_test(it_takeover_reference takeover_reference.py TIMEOUT 400)
  set_tests_properties(it_takeover_reference PROPERTIES SKIP_RETURN_CODE 77)
endif()
