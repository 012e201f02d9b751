# Fuzz target for the raw-request parser of `retraind sign` (and the signer behind it). Seeds
# are the conformance suite's files when ../shared is present (libFuzzer reads folders
# recursively); otherwise it starts from an empty corpus.
file(GLOB rt_fuzz_sigv4_sources ${CMAKE_SOURCE_DIR}/src/core/*.c ${CMAKE_SOURCE_DIR}/src/sigv4/*.c)
add_test(NAME fuzz_sign_request
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh sign_request 10
          ${CMAKE_SOURCE_DIR}/../shared/sigv4-suite/v4
          ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_sign_request.c ${rt_fuzz_sigv4_sources})
set_tests_properties(fuzz_sign_request PROPERTIES LABELS fuzz ENVIRONMENT
  RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
