# bench_sigv4: SigV4 signatures per second of a typical JSON-protocol request, with and without
# the derived-key cache, heap allocations per signature, and @smithy/signature-v4 in Node on the
# same request (when tests/sigv4-diff is installed in <build>/sigv4-diff; skipped otherwise).
add_executable(bench_sigv4 ${CMAKE_CURRENT_SOURCE_DIR}/bench_sigv4.c)
target_link_libraries(bench_sigv4 PRIVATE rt_sigv4)
target_compile_definitions(bench_sigv4 PRIVATE
  RT_BENCH_NODE_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/sigv4_smithy.js"
  RT_BENCH_NODE_MODULES="${CMAKE_BINARY_DIR}/sigv4-diff/node_modules")
