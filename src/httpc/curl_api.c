/*
 * curl_api.c - dlopen()s libcurl on first use (see curl_api.h for why).
 */
#include "curl_api.h"

#include <dlfcn.h>
#include <stddef.h>
#include <uv.h>

#include "retraind/buf.h"
#include "retraind/log.h"

struct rt__curl_api rt__curl;

static uv_once_t once = UV_ONCE_INIT;
static int load_status;
static char load_message[256];

/* The soname of libcurl's ABI 4, which every libcurl 7.x and 8.x keeps. */
#define LIBCURL_SONAME "libcurl.so.4"

static void load(void)
{
    /* RTLD_LOCAL: curl's symbols serve this table only; the handle stays open for the
     * process's life, as libcurl cannot be unloaded safely once initialised. */
    void *lib = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        load_status = RT_ENOTIMPL;
        const char *why = dlerror();
        rt_snprintf(load_message, sizeof(load_message), "cannot load %s: %s", LIBCURL_SONAME,
                    why ? why : "unknown error");
        return;
    }
    static const struct {
        const char *name;
        size_t offset;
    } symbols[] = {
#define SYM(field, name) {name, offsetof(struct rt__curl_api, field)}
        SYM(global_init, "curl_global_init"),
        SYM(easy_init, "curl_easy_init"),
        SYM(easy_cleanup, "curl_easy_cleanup"),
        SYM(easy_reset, "curl_easy_reset"),
        SYM(easy_setopt, "curl_easy_setopt"),
        SYM(easy_getinfo, "curl_easy_getinfo"),
        SYM(easy_strerror, "curl_easy_strerror"),
        SYM(getdate, "curl_getdate"),
        SYM(multi_init, "curl_multi_init"),
        SYM(multi_cleanup, "curl_multi_cleanup"),
        SYM(multi_setopt, "curl_multi_setopt"),
        SYM(multi_strerror, "curl_multi_strerror"),
        SYM(multi_add_handle, "curl_multi_add_handle"),
        SYM(multi_remove_handle, "curl_multi_remove_handle"),
        SYM(multi_assign, "curl_multi_assign"),
        SYM(multi_socket_action, "curl_multi_socket_action"),
        SYM(multi_info_read, "curl_multi_info_read"),
        SYM(slist_append, "curl_slist_append"),
        SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
    };
    struct rt__curl_api api;
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        void *fn = dlsym(lib, symbols[i].name);
        if (!fn) {
            load_status = RT_ENOTIMPL;
            rt_snprintf(load_message, sizeof(load_message), "%s lacks %s", LIBCURL_SONAME,
                        symbols[i].name);
            return;
        }
        /* POSIX guarantees a function pointer round-trips through void *. */
        *(void **)((char *)&api + symbols[i].offset) = fn;
    }
    rt__curl = api;
    RT_LOG(RT_LOG_DEBUG, "httpc", "event=libcurl_loaded soname=%s", LIBCURL_SONAME);
}

int rt__curl_load(struct rt_error *err)
{
    uv_once(&once, load);
    if (load_status)
        return rt_error_set(err, load_status, "%s", load_message);
    return 0;
}
