# bench_journal: durable small writes/s through the journal's writer thread (group commit) at 1,
# 16, 256 and 1,000 in flight, and the loop's longest stall while another process holds the
# write lock for 2 s. The journal lives under <build>/bench-data/journal (recreated each run).
add_executable(bench_journal ${CMAKE_CURRENT_SOURCE_DIR}/bench_journal.c)
target_link_libraries(bench_journal PRIVATE rt_journal PkgConfig::SQLITE PkgConfig::LIBUV)
target_compile_definitions(bench_journal PRIVATE RT_BENCH_DATA="${CMAKE_BINARY_DIR}/bench-data")
