/*
 * curl_api.h - libcurl, loaded when the first HTTP client is made instead of at process start.
 *
 * Design: libcurl pulls in a large dependency tree (GnuTLS, Kerberos, LDAP, p11-kit, ...) whose
 * pages cost the daemon about 4 MB resident even when it never makes an HTTP call, which is the
 * embedded default with log notifications. So httpc reaches libcurl through this table, filled
 * by dlopen("libcurl.so.4") in rt__curl_load() on first use. The macros below route the usual
 * curl_* names through the table, so the rest of httpc reads like ordinary libcurl code. Type
 * checking of curl_easy_setopt's variadic arguments (typecheck-gcc.h) is off here because it is
 * itself a macro of that name; httpc's setopt calls pass the documented types.
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
#define curl_easy_setopt (*rt__curl.easy_setopt)
#define curl_easy_getinfo (*rt__curl.easy_getinfo)
#define curl_easy_strerror (*rt__curl.easy_strerror)
#define curl_getdate (*rt__curl.getdate)
#define curl_multi_init (*rt__curl.multi_init)
#define curl_multi_cleanup (*rt__curl.multi_cleanup)
#define curl_multi_setopt (*rt__curl.multi_setopt)
#define curl_multi_add_handle (*rt__curl.multi_add_handle)
#define curl_multi_remove_handle (*rt__curl.multi_remove_handle)
#define curl_multi_assign (*rt__curl.multi_assign)
#define curl_multi_socket_action (*rt__curl.multi_socket_action)
#define curl_multi_info_read (*rt__curl.multi_info_read)
#define curl_slist_append (*rt__curl.slist_append)
#define curl_slist_free_all (*rt__curl.slist_free_all)

#endif
