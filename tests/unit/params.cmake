rt_unit_test(params ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_params.c LIBS rt_params)
