# bench_census: the training check's census over 100,000 labeled images counted by identity
# against a 90,000-key deployed manifest (time and peak memory above idle). Shares the
# 100,000-file tree of bench_count under <build>/bench-data.
if(TARGET rt_workflow AND TARGET rt_store AND TARGET rt_journal)
  add_executable(bench_census ${CMAKE_CURRENT_SOURCE_DIR}/bench_census.c)
  target_link_libraries(bench_census PRIVATE rt_workflow rt_store rt_journal rt_core PkgConfig::LIBUV)
  target_compile_definitions(bench_census PRIVATE RT_BENCH_DATA="${CMAKE_BINARY_DIR}/bench-data")
endif()
