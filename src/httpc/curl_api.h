/*
 * curl_api.h - libcurl, loaded when the first HTTP client is made instead of at process start,
 * and type-checked setopt wrappers for calls through the loaded table.
 *
 * Design: libcurl pulls in a large dependency tree (GnuTLS, Kerberos, LDAP, p11-kit, ...) whose
 * pages cost the daemon about 4 MB resident even when it never makes an HTTP call, which is the
 * embedded default with log notifications. So httpc reaches libcurl through this table, filled
 * by dlopen("libcurl.so.4") in rt__curl_load() on first use. The macros below route the usual
 * curl_* names through the table, so the rest of httpc reads like ordinary libcurl code.
 *
 * Setopt type checking. curl_easy_setopt and curl_multi_setopt are variadic: a value of the
 * wrong type (an int where curl reads a long, a string where it reads a function) compiles and
 * then misbehaves at run time. curl's own checker (typecheck-gcc.h) cannot be used here: it is a
 * macro that ends by calling the linked curl_easy_setopt, which this file replaces by the table;
 * with Debian 12's gcc 12 and curl 7.88 it does not fire at all (a string given to
 * CURLOPT_TIMEOUT_MS compiles without a word), it accepts an int for a long, and it exists only
 * for gcc. So CURL_DISABLE_TYPECHECK stays, the plain names are poisoned, and every option is set
 * through one of the typed wrappers below (RT__EASY_SETOPT_LONG / _OFF / _STR / _SLIST / _PTR /
 * _FUNC and RT__MULTI_SETOPT_LONG / _PTR / _FUNC), which check at compile time, with C11
 * _Static_assert and _Generic (gcc and clang alike):
 *   - the option's kind, from the type base curl encodes in every option number (CURLOPTTYPE_LONG,
 *     OBJECTPOINT, FUNCTIONPOINT, OFF_T): a long wrapper on a string option does not compile;
 *   - the value's exact type: long for _LONG (1L, not 1), curl_off_t for _OFF, char * for _STR,
 *     struct curl_slist * for _SLIST, void * for _PTR (callback data: cast explicitly);
 *   - for _FUNC, the callback's exact signature, named per option in the RT__CURL_FN_<option>
 *     list below (an option without an entry does not compile, so a new callback option must
 *     state its type here first).
 * Each wrapper evaluates to the CURLcode / CURLMcode of the call, which callers must check.
 * tests/unit/httpc.cmake compiles probes of these wrappers with wrong types and requires every
 * one to fail, so the checks cannot silently stop working.
 */
#ifndef RT_HTTPC_CURL_API_H
#define RT_HTTPC_CURL_API_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "retraind/error.h"

struct rt__curl_api {
    __typeof__(&curl_global_init) global_init;
    __typeof__(&curl_easy_init) easy_init;
    __typeof__(&curl_easy_cleanup) easy_cleanup;
    __typeof__(&curl_easy_reset) easy_reset;
    __typeof__(&curl_easy_setopt) easy_setopt;
    __typeof__(&curl_easy_getinfo) easy_getinfo;
    __typeof__(&curl_easy_strerror) easy_strerror;
    __typeof__(&curl_getdate) getdate;
    __typeof__(&curl_multi_init) multi_init;
    __typeof__(&curl_multi_cleanup) multi_cleanup;
    __typeof__(&curl_multi_setopt) multi_setopt;
    __typeof__(&curl_multi_strerror) multi_strerror;
    __typeof__(&curl_multi_add_handle) multi_add_handle;
    __typeof__(&curl_multi_remove_handle) multi_remove_handle;
    __typeof__(&curl_multi_assign) multi_assign;
    __typeof__(&curl_multi_socket_action) multi_socket_action;
    __typeof__(&curl_multi_info_read) multi_info_read;
    __typeof__(&curl_slist_append) slist_append;
    __typeof__(&curl_slist_free_all) slist_free_all;
};

/* Filled by rt__curl_load(); read-only afterwards, so any thread may call through it. */
extern struct rt__curl_api rt__curl;

/*
 * Loads libcurl once per process (thread-safe; later calls return the first result).
 * Returns: 0, or RT_ENOTIMPL with err naming the library or symbol that is missing.
 */
int rt__curl_load(struct rt_error *err);

/* curl.h defines a few of these names as macros of themselves; replace those too. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (*rt__curl.global_init)
#define curl_easy_init (*rt__curl.easy_init)
#define curl_easy_cleanup (*rt__curl.easy_cleanup)
#define curl_easy_reset (*rt__curl.easy_reset)
#define curl_easy_getinfo (*rt__curl.easy_getinfo)
#define curl_easy_strerror (*rt__curl.easy_strerror)
#define curl_getdate (*rt__curl.getdate)
#define curl_multi_init (*rt__curl.multi_init)
#define curl_multi_cleanup (*rt__curl.multi_cleanup)
#define curl_multi_strerror (*rt__curl.multi_strerror)
#define curl_multi_add_handle (*rt__curl.multi_add_handle)
#define curl_multi_remove_handle (*rt__curl.multi_remove_handle)
#define curl_multi_assign (*rt__curl.multi_assign)
#define curl_multi_socket_action (*rt__curl.multi_socket_action)
#define curl_multi_info_read (*rt__curl.multi_info_read)
#define curl_slist_append (*rt__curl.slist_append)
#define curl_slist_free_all (*rt__curl.slist_free_all)

/* Setting an option any other way than through the typed wrappers below is a compile error. */
#pragma GCC poison curl_easy_setopt curl_multi_setopt

/* ---- typed setopt (see the Design paragraph above) ---- */

/* A compile-time check usable inside an expression. cond must be an integer constant. */
#define RT__CURL_CHECK(cond, msg)                                                                  \
    ((void)sizeof(struct {                                                                         \
        _Static_assert(cond, msg);                                                                 \
        int rt__unused;                                                                            \
    }))

/* The option kinds, from curl's type bases (curl.h CURLOPTTYPE_*; multi options use the same). */
#define RT__CURL_KIND_LONG(o) ((o) > CURLOPTTYPE_LONG && (o) < CURLOPTTYPE_OBJECTPOINT)
#define RT__CURL_KIND_PTR(o) ((o) > CURLOPTTYPE_OBJECTPOINT && (o) < CURLOPTTYPE_FUNCTIONPOINT)
#define RT__CURL_KIND_FUNC(o) ((o) > CURLOPTTYPE_FUNCTIONPOINT && (o) < CURLOPTTYPE_OFF_T)
#define RT__CURL_KIND_OFF(o) ((o) > CURLOPTTYPE_OFF_T && (o) < CURLOPTTYPE_BLOB)

/* The callback type of every function option httpc sets. */
#define RT__CURL_FN_CURLOPT_WRITEFUNCTION curl_write_callback
#define RT__CURL_FN_CURLOPT_HEADERFUNCTION curl_write_callback
#define RT__CURL_FN_CURLOPT_READFUNCTION curl_read_callback
#define RT__CURL_FN_CURLOPT_SEEKFUNCTION curl_seek_callback
#define RT__CURL_FN_CURLMOPT_SOCKETFUNCTION curl_socket_callback
#define RT__CURL_FN_CURLMOPT_TIMERFUNCTION curl_multi_timer_callback

/* One wrapper: checks the option's kind and that the value's type is ok (a _Generic selection
 * giving 1 for the accepted types), then calls fn of the table with the value as type. */
#define RT__CURL_SETOPT(fn, h, opt, kind, what, v, ok, type)                                       \
    (RT__CURL_CHECK(kind(opt), #opt " is not an option of " what " type"),                         \
     RT__CURL_CHECK(ok, #opt " wants a value of type " #type), rt__curl.fn((h), (opt), (type)(v)))

#define RT__EASY_SETOPT_LONG(e, opt, v)                                                            \
    RT__CURL_SETOPT(easy_setopt, e, opt, RT__CURL_KIND_LONG, "long", v,                            \
                    _Generic((v), long : 1, default : 0), long)
#define RT__EASY_SETOPT_OFF(e, opt, v)                                                             \
    RT__CURL_SETOPT(easy_setopt, e, opt, RT__CURL_KIND_OFF, "curl_off_t", v,                       \
                    _Generic((v), curl_off_t : 1, default : 0), curl_off_t)
#define RT__EASY_SETOPT_STR(e, opt, v)                                                             \
    RT__CURL_SETOPT(easy_setopt, e, opt, RT__CURL_KIND_PTR, "pointer", v,                          \
                    _Generic((v), char * : 1, const char * : 1, default : 0), const char *)
#define RT__EASY_SETOPT_SLIST(e, opt, v)                                                           \
    RT__CURL_SETOPT(easy_setopt, e, opt, RT__CURL_KIND_PTR, "pointer", v,                          \
                    _Generic((v), struct curl_slist * : 1, default : 0), struct curl_slist *)
#define RT__EASY_SETOPT_PTR(e, opt, v)                                                             \
    RT__CURL_SETOPT(easy_setopt, e, opt, RT__CURL_KIND_PTR, "pointer", v,                          \
                    _Generic((v), void * : 1, default : 0), void *)
#define RT__EASY_SETOPT_FUNC(e, opt, f)                                                            \
    RT__CURL_SETOPT(easy_setopt, e, opt, RT__CURL_KIND_FUNC, "function", f,                        \
                    _Generic((f), RT__CURL_FN_##opt : 1, default : 0), RT__CURL_FN_##opt)
#define RT__MULTI_SETOPT_LONG(m, opt, v)                                                           \
    RT__CURL_SETOPT(multi_setopt, m, opt, RT__CURL_KIND_LONG, "long", v,                           \
                    _Generic((v), long : 1, default : 0), long)
#define RT__MULTI_SETOPT_PTR(m, opt, v)                                                            \
    RT__CURL_SETOPT(multi_setopt, m, opt, RT__CURL_KIND_PTR, "pointer", v,                         \
                    _Generic((v), void * : 1, default : 0), void *)
#define RT__MULTI_SETOPT_FUNC(m, opt, f)                                                           \
    RT__CURL_SETOPT(multi_setopt, m, opt, RT__CURL_KIND_FUNC, "function", f,                       \
                    _Generic((f), RT__CURL_FN_##opt : 1, default : 0), RT__CURL_FN_##opt)

#endif
