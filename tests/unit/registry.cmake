rt_unit_test(registry ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_registry.c LIBS rt_daemon)
if(TARGET test_registry)
  target_compile_definitions(test_registry PRIVATE
    RT_REGISTRY_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data/registry")
endif()
