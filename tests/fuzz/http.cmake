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

# The whole server: raw client bytes through a socketpair into h2o, the router, auth and sign-in
# (fuzz_http_server.c). Built from the core and http sources with libh2o and libargon2.
set(rt_http_server_seeds ${CMAKE_BINARY_DIR}/fuzz-seeds/http_server)
file(MAKE_DIRECTORY ${rt_http_server_seeds})
set(rt_http_server_seed_list
  "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
  "GET /api/status?limit=5&state=open HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"
  "PUT /api/params/Minimum-F1-Score HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 14\r\n\r\n{\"value\": 0.7}"
  "POST /api/reviews/de-1/answer HTTP/1.1\r\nAuthorization: Bearer t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"label\": \"cat\"}\r\n0\r\n\r\n"
  "POST /login HTTP/1.1\r\nCookie: rt_login_csrf=ab\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 30\r\n\r\nuser=bob&password=pw&csrf=ab\r\n"
  "GET /api/reviews/../status HTTP/1.1\r\nCookie: rt_session=00; x\r\n\r\n"
  "GET /static/app.css HTTP/1.0\r\n\r\n"
  "POST /logout HTTP/1.1\r\nX-CSRF-Token: a\r\nContent-Length: 0\r\n\r\n")
set(i 0)
foreach(seed IN LISTS rt_http_server_seed_list)
  file(WRITE ${rt_http_server_seeds}/seed-${i} "${seed}")
  math(EXPR i "${i} + 1")
endforeach()
file(GLOB rt_http_fuzz_http_sources ${CMAKE_SOURCE_DIR}/src/http/*.c)
file(GLOB rt_http_fuzz_all_core ${CMAKE_SOURCE_DIR}/src/core/*.c)
add_test(NAME fuzz_http_server COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh http_server 20
  ${rt_http_server_seeds} -I${CMAKE_SOURCE_DIR}/src/http
  ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_http_server.c ${rt_http_fuzz_http_sources}
  ${CMAKE_BINARY_DIR}/src/http/assets_data.c ${rt_http_fuzz_all_core} -lh2o -largon2)
set_tests_properties(fuzz_http_server PROPERTIES LABELS fuzz
  ENVIRONMENT RETRAIND_BUILD=${CMAKE_BINARY_DIR} TIMEOUT 240)
