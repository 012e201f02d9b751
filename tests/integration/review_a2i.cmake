# The daemon with the a2i review driver against the Node aws-twin (routes/a2i.js), the builtin
# engine and the local store (issue #9 item 5). Skipped (77) without node/npm.
if(TARGET rt_aws)
  rt_integration_test(it_review_a2i_loop review_a2i_loop.py TIMEOUT 600)
  set_tests_properties(it_review_a2i_loop PROPERTIES SKIP_RETURN_CODE 77)
endif()
