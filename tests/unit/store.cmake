rt_unit_test(store ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store.c LIBS rt_store)
rt_unit_test(store ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_local.c LIBS rt_store)
rt_unit_test(store ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_watch.c LIBS rt_store PkgConfig::LIBUV)
