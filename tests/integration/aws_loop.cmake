# The whole loop on every AWS driver (s3, ssm, rekognition, a2i, sns) against the aws-twin, and
# the same run with 10% of the signed calls faulted (issue #9). Skipped (77) without node/npm or
# python3-boto3.
if(TARGET rt_aws AND TARGET rt_store)
  rt_integration_test(aws_loop aws_loop.py TIMEOUT 600)
  rt_integration_test(aws_loop_faults aws_loop_faults.py TIMEOUT 900)
endif()
