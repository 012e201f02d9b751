rt_unit_test(registry ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_registry.c LIBS rt_daemon)
