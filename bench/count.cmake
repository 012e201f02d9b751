# bench_count: listing and counting labeled images in the local store (100,000 and 10,000 keys).
# The generated trees live under <build>/bench-data and are reused by later runs.
add_executable(bench_count ${CMAKE_CURRENT_SOURCE_DIR}/bench_count.c)
target_link_libraries(bench_count PRIVATE rt_store)
target_compile_definitions(bench_count PRIVATE RT_BENCH_DATA="${CMAKE_BINARY_DIR}/bench-data")
