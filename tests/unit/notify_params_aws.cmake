# The AWS drivers of notify and params: the sns notifier and the ssm params driver against the
# Node aws-twin (tests/servers/aws-twin: SSM built in, routes/sns.js). Cases exit 77 (skipped)
# when node or the twin's npm packages are missing.
if(TARGET rt_aws AND TARGET rt_notify AND TARGET rt_params)
  rt_unit_test(notify_params_aws ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_ssm_sns_twin.c
               LIBS rt_notify rt_params rt_aws)
  if(TARGET test_ssm_sns_twin)
    target_compile_definitions(test_ssm_sns_twin PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}"
                               RT_BUILD_DIR="${CMAKE_BINARY_DIR}")
    file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_ssm_sns_twin.c rt_ssm_sns_cases
         REGEX "^RT_TEST\\([A-Za-z0-9_]+\\)")
    foreach(line ${rt_ssm_sns_cases})
      string(REGEX REPLACE "^RT_TEST\\(([A-Za-z0-9_]+)\\).*" "\\1" case "${line}")
      set_tests_properties(notify_params_aws_${case} PROPERTIES SKIP_RETURN_CODE 77)
    endforeach()
  endif()
endif()
