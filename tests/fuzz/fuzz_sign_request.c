/*
 * fuzz_sign_request.c - fuzz target for the raw-request parser of `retraind sign`
 * (rt_sigv4_raw_parse), followed by the signer on whatever parsed: header signing and
 * presigning, with S3 and with the other services' rules, and the canonical request text.
 * Seeds: the conformance suite's files (../shared/sigv4-suite/v4) when present.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy, so reads past the end are caught by ASan. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    struct rt_sigv4_raw_request *raw = malloc(sizeof(*raw));
    struct rt_sigv4_result *res = malloc(sizeof(*res));
    if (raw && res && rt_sigv4_raw_parse(text, size, raw, NULL) == 0) {
        static const char *services[] = {"s3", "service"};
        for (int s = 0; s < 2; s++) {
            for (int presign = 0; presign < 2; presign++) {
                struct rt_sigv4_request req = {.method = raw->method,
                                               .path = raw->path,
                                               .query = raw->query,
                                               .headers = raw->headers,
                                               .n_headers = raw->n_headers,
                                               .payload_hash =
                                                   RT_STR_LIT(RT_SIGV4_UNSIGNED_PAYLOAD)};
                struct rt_sigv4_config cfg = {
                    .access_key = RT_STR_LIT("AKIDEXAMPLE"),
                    .secret_key = RT_STR_LIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                    .session_token = RT_STR_LIT("tok/en+"),
                    .region = RT_STR_LIT("us-east-1"),
                    .service = rt_str_c(services[s]),
                    .time_s = 1440938160,
                    .flags = presign ? RT_SIGV4_PRESIGN : 0,
                    .expires_s = 3600};
                rt_sigv4_sign(&req, &cfg, res, NULL);
                struct rt_buf cr;
                rt_buf_init(&cr, 1 << 22);
                rt_sigv4_canonical_request(&req, &cfg, &cr, NULL);
                rt_buf_cleanup(&cr);
            }
        }
    }
    free(res);
    free(raw);
    free(text);
    return 0;
}
