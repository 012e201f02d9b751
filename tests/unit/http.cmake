# http: the HTTP server with a fake backend, over real loopback requests (libcurl).
if(TARGET rt_http)
  rt_unit_test(http ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http.c LIBS rt_http PkgConfig::LIBCURL)
  target_include_directories(test_http PRIVATE ${CMAKE_SOURCE_DIR}/src/http)
  set_tests_properties(http_sign_in_rate_limited PROPERTIES TIMEOUT 120)
endif()
