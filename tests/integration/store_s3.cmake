# The s3 store driver against the Node twin + s3rver (each case of tests/unit/test_store_s3.c),
# and a training end to end on the s3 store. Skipped (77) without node/npm.
if(TARGET rt_store)
  rt_integration_test(store_s3_live store_s3_live.py TIMEOUT 900)
  set_tests_properties(store_s3_live PROPERTIES SKIP_RETURN_CODE 77)
endif()
if(TARGET rt_store)
  rt_integration_test(store_s3_training store_s3_training.py TIMEOUT 600)
  set_tests_properties(store_s3_training PROPERTIES SKIP_RETURN_CODE 77)
endif()
# Event-driven detection: S3 event notifications through SQS (store.events_queue) against the
# twin's routes/sqs.js. Skipped (77) without node/npm or boto3.
if(TARGET rt_store)
  rt_integration_test(sqs_events sqs_events.py TIMEOUT 300)
endif()
