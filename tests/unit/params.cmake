rt_unit_test(params ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_params.c LIBS rt_params)
# Allocation-failure torture of the local driver's load and set (SQLite through rt_malloc).
rt_unit_test(params ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_params_alloc.c LIBS rt_params PkgConfig::SQLITE PkgConfig::LIBUV)
