rt_unit_test(daemon ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_outbox.c LIBS rt_daemon)
if(TARGET test_outbox)
  target_include_directories(test_outbox PRIVATE ${CMAKE_SOURCE_DIR}/src/daemon)
endif()
