# Fuzz target of the HTTP server's parsers: cookies, forms and queries, the JSON bodies, path ids.
# The first byte of an input selects the parser (see fuzz_http_parsers.c); seeds are written into
# the build tree at configure time.
set(rt_http_seeds ${CMAKE_BINARY_DIR}/fuzz-seeds/http_parsers)
file(MAKE_DIRECTORY ${rt_http_seeds})
set(rt_http_seed_list
  "0rt_session=abc; x=1" "0 a=\"b\" ;rt_session=\"q\"" "0rt_session" "0;;=;rt_session="
  "1user=a%20b&password=p+w%26&csrf=z" "1password=%zz" "1password=%00" "1=&&password"
  "2{\"label\":\"cat\"}" "2{\"label\":\"\"}" "2[1,2]" "2{\"label\":\"a\\u0000b\"}"
  "3{\"value\":0.7}" "3{\"value\":true}" "3{\"value\":\"10m\"}" "3{\"value\":null}"
  "4de-2026.x_1" "4.." "4a/b" "5state=open&limit=10&label=a%2Fb")
set(i 0)
foreach(seed IN LISTS rt_http_seed_list)
  file(WRITE ${rt_http_seeds}/seed-${i} "${seed}")
  math(EXPR i "${i} + 1")
endforeach()
set(rt_http_fuzz_core ${CMAKE_SOURCE_DIR}/src/core/error.c ${CMAKE_SOURCE_DIR}/src/core/buf.c
  ${CMAKE_SOURCE_DIR}/src/core/alloc.c ${CMAKE_SOURCE_DIR}/src/core/form.c)
add_test(NAME fuzz_http_parsers COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh http_parsers 10
  ${rt_http_seeds} -I${CMAKE_SOURCE_DIR}/src/http ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_http_parsers.c
  ${CMAKE_SOURCE_DIR}/src/http/parse.c ${rt_http_fuzz_core})
set_tests_properties(fuzz_http_parsers PROPERTIES LABELS fuzz
  ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 180)
