# The pure SQS parts of src/aws/sqs.c: the S3 event notification parser and the SQS reply parsers.
if(TARGET rt_aws)
  rt_unit_test(sqs ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sqs.c LIBS rt_aws)
endif()
