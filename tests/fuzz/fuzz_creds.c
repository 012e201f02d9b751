/*
 * fuzz_creds.c - the credential sources' parsers of outside input: the credentials JSON of IMDS
 * and the container endpoint, the STS XML reply, the ISO-8601 expiry times, and the shared
 * credentials/config files (INI). The first byte picks the parser; the rest is the input. The
 * profile files are handed over through a memfd, so nothing touches the disk.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/creds/creds_int.h"
#include "retraind/alloc.h"
#include "retraind/credentials.h"
#include "retraind/log.h"

/* The profile provider's network half (STS for web identity) is not under test: parsing a file
 * never reaches it, so these stand-ins only satisfy the linker. */
void rt__web_identity_run(struct rt__creds_op *op, const struct rt__web_identity_call *c)
{
    (void)op;
    (void)c;
    __builtin_trap();
}

int rt__sts_endpoint(const char *config_url,
                     const char *config_region,
                     const char *profile_region,
                     char *out,
                     size_t size,
                     struct rt_error *err)
{
    (void)config_url;
    (void)config_region;
    (void)profile_region;
    (void)out;
    (void)size;
    (void)err;
    __builtin_trap();
}

/* Role profiles start other providers and runners; loading a profile file never does. */
void rt__assume_role_run(struct rt__creds_op *op, const struct rt__assume_role_call *c)
{
    (void)op;
    (void)c;
    __builtin_trap();
}

void rt__process_run(struct rt__creds_op *op, const struct rt__process_call *c)
{
    (void)op;
    (void)c;
    __builtin_trap();
}

#define RT_FUZZ_NO_PROVIDER(name)                                                                  \
    int name(const struct rt_credentials_opts *o, struct rt_credentials_provider **out,            \
             struct rt_error *err)                                                                 \
    {                                                                                              \
        (void)o;                                                                                   \
        (void)out;                                                                                 \
        (void)err;                                                                                 \
        __builtin_trap();                                                                          \
    }
RT_FUZZ_NO_PROVIDER(rt_credentials_provider_new_environment)
RT_FUZZ_NO_PROVIDER(rt_credentials_provider_new_imds)
RT_FUZZ_NO_PROVIDER(rt_credentials_provider_new_container)

const char *
rt_region_resolve(const char *config_region, const char *profile_region, const char **from)
{
    (void)config_region;
    (void)profile_region;
    (void)from;
    __builtin_trap();
}

static void parse_profile(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-profile", 0);
    if (fd < 0)
        return;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        static const char *const names[] = {"default", "work", "a b", ""};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            struct rt__profile pr;
            memset(&pr, 0, sizeof(pr));
            struct rt_error err;
            rt_error_clear(&err);
            rt__profile_load(names[i], path, path, &pr, &err);
            rt__profile_cleanup(&pr);
        }
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        rt_log_set_level(RT_LOG_CRIT); /* parsers log refusals; keep the fuzzer's output clean */
        quiet = 1;
    }
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 4;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    if (which == 0) {
        struct rt_credentials *c = NULL;
        struct rt_error err;
        rt_error_clear(&err);
        if (rt__creds_parse_json(body, len, "fuzz", &c, &err) == 0)
            rt_credentials_free(c);
    } else if (which == 1) {
        struct rt_credentials *c = NULL;
        struct rt_error err;
        rt_error_clear(&err);
        if (rt__creds_parse_sts(body, len, &c, &err) == 0)
            rt_credentials_free(c);
        rt_error_clear(&err);
        rt__creds_sts_error(body, len, &err);
    } else if (which == 2) {
        char text[128];
        size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
        memcpy(text, body, n);
        text[n] = '\0';
        int64_t ms;
        rt__creds_parse_time(text, &ms);
    } else {
        parse_profile((const uint8_t *)body, len);
    }
    return 0;
}
