# creds: the credential providers, chain and cache. test_creds.c needs no server;
# test_creds_twin.c runs the network sources against the Node aws-twin server on loopback
# (tests/servers/aws-twin, route module routes/creds.js) and skips (77) when node is missing.
if(TARGET rt_aws)
  rt_unit_test(creds ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_creds.c LIBS rt_aws)
  rt_unit_test(creds ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_creds_twin.c LIBS rt_aws)
  if(TARGET test_creds_twin)
    target_compile_definitions(test_creds_twin PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}"
                               RT_BUILD_DIR="${CMAKE_BINARY_DIR}")
  endif()
endif()
