rt_unit_test(core ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_core.c LIBS rt_core)
