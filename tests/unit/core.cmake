rt_unit_test(core ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_core.c LIBS rt_core)
rt_unit_test(core ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_core_helpers.c LIBS rt_core)
