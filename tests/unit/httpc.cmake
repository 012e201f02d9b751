# httpc: the HTTP client and SMTP sender against real servers on loopback (tests/servers/).
rt_unit_test(httpc ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_httpc.c LIBS rt_httpc)
target_compile_definitions(test_httpc PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}")
if(TARGET rt_notify)
  rt_unit_test(smtp ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_smtp.c LIBS rt_notify rt_httpc)
  target_compile_definitions(test_smtp PRIVATE RT_SRC_DIR="${CMAKE_SOURCE_DIR}")
endif()

# httpc_setopt_types_checked_at_compile_time: the typed setopt wrappers of src/httpc/curl_api.h
# must turn a wrong value type, a wrong option kind, a wrong callback signature, a callback option
# without a declared type, and a plain curl_easy_setopt into compile errors. The test compiles a
# probe once with correct calls (it must build) and once per mistake (each must fail with its
# message), with the project's compiler and -Werror, so the checks cannot silently stop working.
set(rt_setopt_probe ${CMAKE_BINARY_DIR}/httpc-setopt-probe)
file(WRITE ${rt_setopt_probe}/probe.c [=[
#include "curl_api.h"
static size_t wr(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}
static size_t wr_const(char *p, size_t s, size_t n, const void *u)
{
    (void)p;
    (void)u;
    return s * n;
}
int probe(CURL *e, CURLM *m, struct curl_slist *l);
int probe(CURL *e, CURLM *m, struct curl_slist *l)
{
    int rc = 0;
    (void)wr;
    (void)wr_const;
#if PROBE == 0
    rc |= (int)RT__EASY_SETOPT_LONG(e, CURLOPT_TIMEOUT_MS, 5L);
    rc |= (int)RT__EASY_SETOPT_OFF(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)5);
    rc |= (int)RT__EASY_SETOPT_STR(e, CURLOPT_URL, "http://127.0.0.1/");
    rc |= (int)RT__EASY_SETOPT_SLIST(e, CURLOPT_HTTPHEADER, l);
    rc |= (int)RT__EASY_SETOPT_PTR(e, CURLOPT_WRITEDATA, (void *)e);
    rc |= (int)RT__EASY_SETOPT_FUNC(e, CURLOPT_WRITEFUNCTION, wr);
    rc |= (int)RT__MULTI_SETOPT_LONG(m, CURLMOPT_MAXCONNECTS, 4L);
#elif PROBE == 1
    rc |= (int)RT__EASY_SETOPT_LONG(e, CURLOPT_TIMEOUT_MS, 5);
#elif PROBE == 2
    rc |= (int)RT__EASY_SETOPT_LONG(e, CURLOPT_TIMEOUT_MS, "5");
#elif PROBE == 3
    rc |= (int)RT__EASY_SETOPT_LONG(e, CURLOPT_URL, 5L);
#elif PROBE == 4
    rc |= (int)RT__EASY_SETOPT_FUNC(e, CURLOPT_WRITEFUNCTION, wr_const);
#elif PROBE == 5
    rc |= (int)RT__EASY_SETOPT_FUNC(e, CURLOPT_XFERINFOFUNCTION, wr);
#elif PROBE == 6
    rc |= (int)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5L);
#elif PROBE == 7
    rc |= (int)RT__MULTI_SETOPT_LONG(m, CURLMOPT_MAXCONNECTS, 4);
#elif PROBE == 8
    rc |= (int)RT__EASY_SETOPT_STR(e, CURLOPT_URL, 5L);
#elif PROBE == 9
    rc |= (int)RT__EASY_SETOPT_SLIST(e, CURLOPT_HTTPHEADER, "X-A: b");
#endif
    (void)e;
    (void)m;
    (void)l;
    return rc;
}
]=])
file(WRITE ${rt_setopt_probe}/run.cmake [=[
# Compiles probe.c with -DPROBE=n; 0 must build, every other must fail with its message.
cmake_minimum_required(VERSION 3.25)
set(expect
  "0|"
  "1|wants a value of type long"
  "2|wants a value of type long"
  "3|is not an option of long type"
  "4|wants a value of type RT__CURL_FN_CURLOPT_WRITEFUNCTION"
  "5|RT__CURL_FN_CURLOPT_XFERINFOFUNCTION"
  "6|poisoned"
  "7|wants a value of type long"
  "8|wants a value of type const char"
  "9|wants a value of type struct curl_slist")
set(incs)
foreach(d ${INCS})
  list(APPEND incs -I${d})
endforeach()
foreach(e ${expect})
  string(REPLACE "|" ";" parts "${e}")
  list(GET parts 0 n)
  list(LENGTH parts np)
  set(want "")
  if(np GREATER 1)
    list(GET parts 1 want)
  endif()
  execute_process(COMMAND ${CC} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -DPROBE=${n} ${incs}
                  -c ${DIR}/probe.c -o ${DIR}/probe-${n}.o
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(n EQUAL 0)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "probe 0 (correct calls) does not compile:\n${out}")
    endif()
  elseif(rc EQUAL 0)
    message(FATAL_ERROR "probe ${n} compiled, but it should be refused (${want})")
  elseif(NOT out MATCHES "${want}")
    message(FATAL_ERROR "probe ${n} failed without \"${want}\":\n${out}")
  else()
    message(STATUS "probe ${n} refused: ${want}")
  endif()
endforeach()
]=])
add_test(NAME httpc_setopt_types_checked_at_compile_time
  COMMAND ${CMAKE_COMMAND} -DCC=${CMAKE_C_COMPILER} -DDIR=${rt_setopt_probe}
  "-DINCS=${CMAKE_SOURCE_DIR}/src/httpc;${RT_INCLUDE_DIR};${LIBCURL_INCLUDE_DIRS}"
  -P ${rt_setopt_probe}/run.cmake)
set_tests_properties(httpc_setopt_types_checked_at_compile_time PROPERTIES LABELS unit TIMEOUT 120)
