# Fuzz target for the config parser: built by run.sh with clang/libFuzzer (or the replayer).
file(GLOB rt_fuzz_config_sources ${CMAKE_SOURCE_DIR}/src/core/*.c)
add_test(NAME fuzz_config
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh config 10
          ${CMAKE_CURRENT_SOURCE_DIR}/data/config
          ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_config.c ${rt_fuzz_config_sources})
set_tests_properties(fuzz_config PROPERTIES LABELS fuzz ENVIRONMENT
  RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
