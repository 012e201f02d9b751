# httpc: the HTTP client and SMTP sender against real servers on loopback (tests/servers/).
rt_unit_test(httpc ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_httpc.c LIBS rt_httpc)
target_compile_definitions(test_httpc PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}")
if(TARGET rt_notify)
  rt_unit_test(smtp ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_smtp.c LIBS rt_notify rt_httpc)
  target_compile_definitions(test_smtp PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}")
endif()
