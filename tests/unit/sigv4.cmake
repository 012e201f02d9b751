# sigv4: encoding rules, key cache and the signer's API (test_sigv4.c), and the AWS conformance
# suite stage by stage (test_sigv4_suite.c; skipped with exit 77 when ../shared is absent).
rt_unit_test(sigv4 ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sigv4.c LIBS rt_sigv4)
rt_unit_test(sigv4 ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sigv4_suite.c LIBS rt_sigv4)
target_compile_definitions(test_sigv4_suite PRIVATE
  RT_SIGV4_SUITE_DIR="${CMAKE_SOURCE_DIR}/../shared/sigv4-suite/v4")
foreach(case suite_canonical_request suite_string_to_sign suite_signature suite_signed_request)
  set_tests_properties(sigv4_${case} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
