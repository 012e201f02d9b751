# creds: the credential providers, chain and cache (src/creds, library rt_creds). test_creds.c
# needs no server; test_creds_twin.c runs the network sources against the Node aws-twin server on
# loopback (tests/servers/aws-twin, route module routes/creds.js). When node, npm or the twin's npm
# packages are missing, each twin case exits 77 and SKIP_RETURN_CODE makes ctest report it as
# skipped, never as passed.
if(TARGET rt_creds)
  rt_unit_test(creds ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_creds.c LIBS rt_creds)
  rt_unit_test(creds ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_creds_twin.c LIBS rt_creds)
  if(TARGET test_creds_twin)
    target_compile_definitions(test_creds_twin PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}"
                               RT_BUILD_DIR="${CMAKE_BINARY_DIR}")
    file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_creds_twin.c rt_creds_twin_cases
         REGEX "^RT_TEST\\([A-Za-z0-9_]+\\)")
    foreach(line ${rt_creds_twin_cases})
      string(REGEX REPLACE "^RT_TEST\\(([A-Za-z0-9_]+)\\).*" "\\1" case "${line}")
      set_tests_properties(creds_${case} PROPERTIES SKIP_RETURN_CODE 77)
    endforeach()
  endif()
endif()
# Credentials, finished (issue #9): role profiles through the twin's signed STS AssumeRole
# (routes/sts.js), credential_process, and the aws client refreshing expired credentials; needs
# rt_aws. Cases exit 77 (skipped; rt_unit_test sets SKIP_RETURN_CODE) when node or the twin's
# packages are missing.
if(TARGET rt_creds AND TARGET rt_aws)
  rt_unit_test(creds ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_creds_aws_twin.c LIBS rt_aws rt_creds)
  if(TARGET test_creds_aws_twin)
    target_compile_definitions(test_creds_aws_twin PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}"
                               RT_BUILD_DIR="${CMAKE_BINARY_DIR}")
  endif()
endif()
