# Fuzz target of the SQS reply parsers and the S3 event notification parser (src/aws/sqs.c),
# seeded with tests/data/fuzz/s3_event (an S3 event, the test event, an SNS envelope, replies).
add_test(NAME fuzz_s3_event COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh s3_event 10
  ${CMAKE_CURRENT_SOURCE_DIR}/data/fuzz/s3_event ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_s3_event.c
  ${CMAKE_SOURCE_DIR}/src/aws/sqs.c ${CMAKE_SOURCE_DIR}/src/core/form.c
  ${CMAKE_SOURCE_DIR}/src/core/error.c ${CMAKE_SOURCE_DIR}/src/core/buf.c
  ${CMAKE_SOURCE_DIR}/src/core/alloc.c ${CMAKE_SOURCE_DIR}/src/core/clock.c
  ${CMAKE_SOURCE_DIR}/src/core/log.c)
set_tests_properties(fuzz_s3_event PROPERTIES LABELS fuzz
  ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
