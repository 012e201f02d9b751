# store s3: the s3 store driver against the Node twin and s3rver. test_store_s3 is not a unit
# test (it needs node and the npm packages): tests/integration/store_s3_live.py installs those
# and runs each case in its own process.
if(TARGET rt_store AND TARGET rt_workflow)
  add_executable(test_store_s3 ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_s3.c)
  target_link_libraries(test_store_s3 PRIVATE rt_test_main rt_workflow rt_store rt_aws)
  target_compile_definitions(test_store_s3 PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}")
  set_target_properties(test_store_s3 PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()
