# aws: the generic AWS call. test_aws: pure parts (recorded error replies in tests/data/aws,
# XML, listings, endpoints). test_aws_live is not a unit test: it drives the client against the
# Node twin and s3rver, and tests/integration/aws_live.py installs those and runs its cases.
if(TARGET rt_aws)
  rt_unit_test(aws ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_aws.c LIBS rt_aws)
  target_compile_definitions(test_aws PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}")
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_aws_live.c)
    add_executable(test_aws_live ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_aws_live.c)
    target_link_libraries(test_aws_live PRIVATE rt_test_main rt_aws)
    target_compile_definitions(test_aws_live PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}")
    set_target_properties(test_aws_live PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  endif()
endif()
