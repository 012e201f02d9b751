# Fuzz target of the credential sources' parsers (JSON, STS XML through core's xml.c, times,
# profile INI files). creds_common.c also brings the provider base, hence core's loop.c.
add_test(NAME fuzz_creds COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh creds 10
  ${CMAKE_CURRENT_SOURCE_DIR}/data/fuzz/creds ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_creds.c
  ${CMAKE_SOURCE_DIR}/src/creds/creds_common.c ${CMAKE_SOURCE_DIR}/src/creds/creds_profile.c
  ${CMAKE_SOURCE_DIR}/src/core/xml.c ${CMAKE_SOURCE_DIR}/src/core/loop.c
  ${CMAKE_SOURCE_DIR}/src/core/error.c ${CMAKE_SOURCE_DIR}/src/core/buf.c
  ${CMAKE_SOURCE_DIR}/src/core/alloc.c ${CMAKE_SOURCE_DIR}/src/core/log.c
  ${CMAKE_SOURCE_DIR}/src/core/clock.c)
set_tests_properties(fuzz_creds PROPERTIES LABELS fuzz
  ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
