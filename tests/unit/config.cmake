# The config parser's unit tests; the table of cases lives in tests/data/config/.
rt_unit_test(config ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_config.c LIBS rt_core)
target_compile_definitions(test_config PRIVATE
  RT_CONFIG_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data/config"
  RT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
