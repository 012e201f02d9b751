# bench_httpc: requests/s and client CPU of httpc against a tiny local libuv server.
add_executable(bench_httpc ${CMAKE_CURRENT_SOURCE_DIR}/bench_httpc.c)
target_link_libraries(bench_httpc PRIVATE rt_httpc rt_sigv4)
