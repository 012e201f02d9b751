rt_unit_test(review ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_review_local.c LIBS rt_review)
# the a2i driver against the Node aws-twin (routes/a2i.js); cases exit 77 without node/npm.
if(TARGET rt_aws)
  rt_unit_test(review_a2i ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_review_a2i.c LIBS rt_review rt_aws)
  if(TARGET test_review_a2i)
    target_compile_definitions(test_review_a2i PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}"
                               RT_BUILD_DIR="${CMAKE_BINARY_DIR}")
  endif()
endif()
