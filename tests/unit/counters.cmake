# The daemon's counters behind /metrics (#8): loaded from the journal, moved by transitions.
rt_unit_test(daemon ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_counters.c LIBS rt_daemon PkgConfig::CJSON)
if(TARGET test_counters)
  target_include_directories(test_counters PRIVATE ${CMAKE_SOURCE_DIR}/src/daemon)
endif()
