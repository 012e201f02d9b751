/* test_sigv4.c - SigV4 encoding rules, header rules, dates, the raw parser and the key cache. */
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/sigv4.h"
#include "rt_test.h"

static char *path_of(const char *p, unsigned flags)
{
    static char out[1024];
    struct rt_buf b;
    rt_buf_init(&b, sizeof(out) - 1);
    RT_ASSERT_OK(rt_sigv4_canonical_path(rt_str_c(p), flags, &b));
    rt_strlcpy(out, b.data ? b.data : "", sizeof(out));
    rt_buf_cleanup(&b);
    return out;
}

static char *query_of(const char *q)
{
    static char out[1024];
    struct rt_buf b;
    rt_buf_init(&b, sizeof(out) - 1);
    RT_ASSERT_OK(rt_sigv4_canonical_query(rt_str_c(q), &b));
    rt_strlcpy(out, b.data ? b.data : "", sizeof(out));
    rt_buf_cleanup(&b);
    return out;
}

RT_TEST(uri_encode_unreserved_set)
{
    struct rt_buf b;
    rt_buf_init(&b, 256);
    RT_ASSERT_OK(rt_sigv4_uri_encode(RT_STR_LIT("aZ09-._~ +/%\xe1\x88\xb4"), false, &b));
    RT_ASSERT_STR_EQ(b.data, "aZ09-._~%20%2B%2F%25%E1%88%B4");
    rt_buf_reset(&b);
    RT_ASSERT_OK(rt_sigv4_uri_encode(RT_STR_LIT("/a b/"), true, &b));
    RT_ASSERT_STR_EQ(b.data, "/a%20b/");
    rt_buf_cleanup(&b);
}

RT_TEST(path_other_services_normalised_and_double_encoded)
{
    RT_ASSERT_STR_EQ(path_of("/a%20b/", 0), "/a%2520b/");
    RT_ASSERT_STR_EQ(path_of("//a//./b/../c", 0), "/a/c");
    RT_ASSERT_STR_EQ(path_of("/a/b/..", 0), "/a");
    RT_ASSERT_STR_EQ(path_of("/a/..", 0), "/");
    RT_ASSERT_STR_EQ(path_of("/../..", 0), "/");
    RT_ASSERT_STR_EQ(path_of("", 0), "/");
    RT_ASSERT_STR_EQ(path_of("/a+b=c~", 0), "/a%2Bb%3Dc~");
    /* --no-normalize: dot segments and slashes kept, still encoded. */
    RT_ASSERT_STR_EQ(path_of("//a/./b/", RT_SIGV4_NO_NORMALIZE), "//a/./b/");
    RT_ASSERT_STR_EQ(path_of("/a b", RT_SIGV4_NO_NORMALIZE), "/a%20b");
}

RT_TEST(path_s3_single_encoded_not_normalised)
{
    unsigned s3 = RT_SIGV4_NO_NORMALIZE | RT_SIGV4_SINGLE_ENCODE;
    RT_ASSERT_STR_EQ(path_of("/b/my%20key//./x/../y", s3), "/b/my%20key//./x/../y");
    /* Stray bytes are encoded once; escapes are kept, upper-cased; %2F stays an escape. */
    RT_ASSERT_STR_EQ(path_of("/b/a b\xc3\xa9%2f%7E%zz", s3), "/b/a%20b%C3%A9%2F~%25zz");
}

RT_TEST(query_sorted_encoded_repeats_and_empties_kept)
{
    RT_ASSERT_STR_EQ(query_of(""), "");
    RT_ASSERT_STR_EQ(query_of("b=2&a=1&a=0&c&d="), "a=0&a=1&b=2&c=&d=");
    /* Sorted on the encoded key alone, not on "key=value". */
    RT_ASSERT_STR_EQ(query_of("Param-3=V3&Param=V2"), "Param=V2&Param-3=V3");
    /* Decoded, then re-encoded: '+' is a plus, lower-case hex normalised, space as %20. */
    RT_ASSERT_STR_EQ(query_of("k=a+b%2fc%20d&x=%7e"), "k=a%2Bb%2Fc%20d&x=~");
    RT_ASSERT_STR_EQ(query_of("=v&&k=a=b"), "=v&k=a%3Db");
    /* A stale signature is not signed again. */
    RT_ASSERT_STR_EQ(query_of("X-Amz-Signature=abc&a=1"), "a=1");
}

static struct rt_sigv4_config base_cfg(void)
{
    return (struct rt_sigv4_config){
        .access_key = RT_STR_LIT("AKIDEXAMPLE"),
        .secret_key = RT_STR_LIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        .region = RT_STR_LIT("us-east-1"),
        .service = RT_STR_LIT("service"),
        .amz_date = "20150830T123600Z",
    };
}

RT_TEST(headers_folded_sorted_joined_unsignable_dropped)
{
    struct rt_sigv4_header h[] = {
        {RT_STR_LIT("Host"), RT_STR_LIT("example.amazonaws.com")},
        {RT_STR_LIT("User-Agent"), RT_STR_LIT("curl/8")},
        {RT_STR_LIT("My-Header"), RT_STR_LIT("  a   b\t\tc  ")},
        {RT_STR_LIT("Expect"), RT_STR_LIT("100-continue")},
        {RT_STR_LIT("my-header"), RT_STR_LIT(" second ")},
        {RT_STR_LIT("Proxy-Authorization"), RT_STR_LIT("x")},
        {RT_STR_LIT("X-Amz-Date"), RT_STR_LIT("19990101T000000Z")},
        {RT_STR_LIT("Authorization"), RT_STR_LIT("old")},
        {RT_STR_LIT("Folded"), RT_STR_LIT("v1\n  v2\r\n\tv3")},
    };
    struct rt_sigv4_request req = {.method = RT_STR_LIT("GET"),
                                   .path = RT_STR_LIT("/"),
                                   .headers = h,
                                   .n_headers = sizeof(h) / sizeof(h[0])};
    struct rt_sigv4_config cfg = base_cfg();
    struct rt_buf b;
    rt_buf_init(&b, 4096);
    RT_ASSERT_OK(rt_sigv4_canonical_request(&req, &cfg, &b, NULL));
    RT_ASSERT_STR_EQ(b.data, "GET\n/\n\n"
                             "folded:v1 v2 v3\n"
                             "host:example.amazonaws.com\n"
                             "my-header:a b c,second\n"
                             "x-amz-date:20150830T123600Z\n\n"
                             "folded;host;my-header;x-amz-date\n" RT_SIGV4_EMPTY_SHA256);
    rt_buf_cleanup(&b);
    RT_ASSERT(rt_sigv4_header_unsignable(RT_STR_LIT("sec-fetch-mode")));
    RT_ASSERT(rt_sigv4_header_unsignable(RT_STR_LIT("Connection")));
    RT_ASSERT(!rt_sigv4_header_unsignable(RT_STR_LIT("content-type")));
}

RT_TEST(s3_service_selects_s3_rules_with_override)
{
    struct rt_sigv4_config cfg = base_cfg();
    cfg.service = RT_STR_LIT("s3");
    unsigned f = rt_sigv4_effective_flags(&cfg);
    RT_ASSERT(f & RT_SIGV4_NO_NORMALIZE);
    RT_ASSERT(f & RT_SIGV4_SINGLE_ENCODE);
    RT_ASSERT(f & RT_SIGV4_CONTENT_SHA256);
    cfg.flags = RT_SIGV4_NOT_S3;
    RT_ASSERT_INT_EQ(rt_sigv4_effective_flags(&cfg) & RT_SIGV4_CONTENT_SHA256, 0);
    cfg.service = RT_STR_LIT("other");
    cfg.flags = RT_SIGV4_S3;
    RT_ASSERT(rt_sigv4_effective_flags(&cfg) & RT_SIGV4_SINGLE_ENCODE);

    /* Signing with S3 rules adds x-amz-content-sha256 holding the payload hash. */
    struct rt_sigv4_header h[] = {{RT_STR_LIT("Host"), RT_STR_LIT("b.s3.amazonaws.com")}};
    struct rt_sigv4_request req = {.method = RT_STR_LIT("GET"),
                                   .path = RT_STR_LIT("/k"),
                                   .headers = h,
                                   .n_headers = 1,
                                   .payload_hash = RT_STR_LIT(RT_SIGV4_UNSIGNED_PAYLOAD)};
    struct rt_sigv4_result res;
    RT_ASSERT_OK(rt_sigv4_sign(&req, &cfg, &res, NULL));
    RT_ASSERT_INT_EQ(res.n_add, 3);
    RT_ASSERT(rt_str_eq_c(res.add[0].name, "X-Amz-Date"));
    RT_ASSERT(rt_str_eq_c(res.add[1].name, "x-amz-content-sha256"));
    RT_ASSERT(rt_str_eq_c(res.add[1].value, "UNSIGNED-PAYLOAD"));
    RT_ASSERT(rt_str_eq_c(res.signed_headers, "host;x-amz-content-sha256;x-amz-date"));
    RT_ASSERT(rt_str_starts_with(res.add[2].value, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"
                                                   "20150830/us-east-1/other/aws4_request, "));
}

RT_TEST(dates_format_parse_and_reject)
{
    char d[RT_SIGV4_DATE_LEN + 1];
    int64_t t;
    RT_ASSERT_OK(rt_sigv4_format_date(1440938160, d));
    RT_ASSERT_STR_EQ(d, "20150830T123600Z");
    RT_ASSERT_OK(rt_sigv4_parse_date("20150830T123600Z", &t));
    RT_ASSERT_INT_EQ(t, 1440938160);
    RT_ASSERT_OK(rt_sigv4_parse_date("20240229T235959Z", &t));
    RT_ASSERT_OK(rt_sigv4_format_date(t, d));
    RT_ASSERT_STR_EQ(d, "20240229T235959Z");
    RT_ASSERT_INT_EQ(rt_sigv4_parse_date("20230229T000000Z", &t), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_sigv4_parse_date("2015-08-30T12:36:00Z", &t), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_sigv4_parse_date("20150830T246000Z", &t), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_sigv4_format_date(-1, d), RT_EINVAL);
    /* A bad date in the config is an error, not a signature. */
    struct rt_sigv4_config cfg = base_cfg();
    cfg.amz_date = "yesterday";
    struct rt_sigv4_request req = {.method = RT_STR_LIT("GET")};
    struct rt_sigv4_result res;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_sigv4_sign(&req, &cfg, &res, &err), RT_EINVAL);
    RT_ASSERT_CONTAINS(err.msg, "YYYYMMDDTHHMMSSZ");
}

RT_TEST(derive_key_matches_aws_example)
{
    /* The worked example of the AWS documentation ("Examples of how to derive a signing key"). */
    unsigned char k[32];
    char hex[65];
    rt_sigv4_derive_key(RT_STR_LIT("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                        RT_STR_LIT("20120215"), RT_STR_LIT("us-east-1"), RT_STR_LIT("iam"), k);
    for (int i = 0; i < 32; i++)
        rt_snprintf(hex + 2 * i, 3, "%02x", k[i]);
    RT_ASSERT_STR_EQ(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static void sign_with(struct rt_sigv4_config *cfg, char sig[65])
{
    struct rt_sigv4_header h[] = {{RT_STR_LIT("Host"), RT_STR_LIT("example.amazonaws.com")}};
    struct rt_sigv4_request req = {
        .method = RT_STR_LIT("GET"), .path = RT_STR_LIT("/"), .headers = h, .n_headers = 1};
    struct rt_sigv4_result res;
    RT_ASSERT_OK(rt_sigv4_sign(&req, cfg, &res, NULL));
    memcpy(sig, res.signature, 65);
}

RT_TEST(cache_hits_misses_and_keys_apart)
{
    struct rt_sigv4_cache *cache;
    RT_ASSERT_OK(rt_sigv4_cache_new(&cache));
    struct rt_sigv4_config cfg = base_cfg();
    char plain[65], cached[65], again[65], other[65];
    sign_with(&cfg, plain); /* no cache */
    cfg.cache = cache;
    sign_with(&cfg, cached);
    sign_with(&cfg, again);
    RT_ASSERT_STR_EQ(cached, plain);
    RT_ASSERT_STR_EQ(again, plain);
    unsigned long hits, misses;
    rt_sigv4_cache_stats(cache, &hits, &misses);
    RT_ASSERT_INT_EQ(hits, 1);
    RT_ASSERT_INT_EQ(misses, 1);
    /* Each part of the key separates entries: a different secret, date, region or service
     * must never reuse a cached key. */
    const char *secrets[] = {"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", NULL};
    cfg.secret_key = rt_str_c(secrets[0]);
    sign_with(&cfg, other);
    RT_ASSERT(strcmp(other, plain) != 0);
    cfg = base_cfg();
    cfg.cache = cache;
    cfg.amz_date = "20150831T123600Z";
    sign_with(&cfg, other);
    struct rt_sigv4_config ref = base_cfg();
    ref.amz_date = "20150831T123600Z";
    char want[65];
    sign_with(&ref, want);
    RT_ASSERT_STR_EQ(other, want);
    cfg = base_cfg();
    cfg.cache = cache;
    cfg.region = RT_STR_LIT("us-west-2");
    sign_with(&cfg, other);
    RT_ASSERT(strcmp(other, plain) != 0);
    cfg.region = RT_STR_LIT("us-east-1");
    cfg.service = RT_STR_LIT("iam");
    sign_with(&cfg, other);
    RT_ASSERT(strcmp(other, plain) != 0);
    rt_sigv4_cache_stats(cache, &hits, &misses);
    RT_ASSERT_INT_EQ(misses, 5);
    /* More tuples than entries: still correct after eviction. */
    for (int i = 0; i < 20; i++) {
        char region[16];
        rt_snprintf(region, sizeof(region), "r-%d", i);
        cfg.region = rt_str_c(region);
        sign_with(&cfg, other);
    }
    cfg = base_cfg();
    cfg.cache = cache;
    sign_with(&cfg, again);
    RT_ASSERT_STR_EQ(again, plain);
    rt_sigv4_cache_clear(cache);
    sign_with(&cfg, again);
    RT_ASSERT_STR_EQ(again, plain);
    rt_sigv4_cache_destroy(cache);
}

RT_TEST(sign_hot_path_allocates_nothing)
{
    struct rt_sigv4_cache *cache;
    RT_ASSERT_OK(rt_sigv4_cache_new(&cache));
    struct rt_sigv4_config cfg = base_cfg();
    cfg.cache = cache;
    cfg.session_token = RT_STR_LIT("token/with+chars");
    char warm[65];
    sign_with(&cfg, warm);
    long before = rt_alloc_live();
    rt_alloc_fail_after(1); /* any allocation would now fail the signing */
    char sig[65];
    sign_with(&cfg, sig);
    rt_alloc_fail_after(0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), before);
    RT_ASSERT_STR_EQ(sig, warm);
    rt_sigv4_cache_destroy(cache);
}

RT_TEST(presign_query_and_limits)
{
    struct rt_sigv4_header h[] = {{RT_STR_LIT("Host"), RT_STR_LIT("b.s3.amazonaws.com")}};
    struct rt_sigv4_request req = {.method = RT_STR_LIT("GET"),
                                   .path = RT_STR_LIT("/k"),
                                   .query = RT_STR_LIT("x=1"),
                                   .headers = h,
                                   .n_headers = 1,
                                   .payload_hash = RT_STR_LIT(RT_SIGV4_UNSIGNED_PAYLOAD)};
    struct rt_sigv4_config cfg = base_cfg();
    cfg.service = RT_STR_LIT("s3");
    cfg.flags = RT_SIGV4_PRESIGN;
    cfg.expires_s = 900;
    cfg.session_token = RT_STR_LIT("a/b");
    struct rt_sigv4_result res;
    RT_ASSERT_OK(rt_sigv4_sign(&req, &cfg, &res, NULL));
    RT_ASSERT_INT_EQ(res.n_add, 0);
    char q[1024];
    rt_snprintf(q, sizeof(q), "%.*s", (int)res.query.len, res.query.p);
    RT_ASSERT_CONTAINS(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F"
                          "20150830%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z"
                          "&X-Amz-SignedHeaders=host&X-Amz-Expires=900"
                          "&X-Amz-Security-Token=a%2Fb&X-Amz-Signature=");
    cfg.expires_s = 0;
    RT_ASSERT_INT_EQ(rt_sigv4_sign(&req, &cfg, &res, NULL), RT_EINVAL);
    cfg.expires_s = 604801;
    RT_ASSERT_INT_EQ(rt_sigv4_sign(&req, &cfg, &res, NULL), RT_EINVAL);
}

RT_TEST(large_request_uses_heap_and_still_signs)
{
    /* 200 headers and a long query go past the stack arrays. */
    enum { N = 200 };
    struct rt_sigv4_header *h = rt_calloc(N, sizeof(*h));
    char(*names)[16] = rt_calloc(N, 16);
    struct rt_buf q;
    rt_buf_init(&q, 1 << 20);
    for (int i = 0; i < N; i++) {
        rt_snprintf(names[i], 16, "x-h-%03d", N - i);
        h[i] = (struct rt_sigv4_header){rt_str_c(names[i]), RT_STR_LIT("v")};
        RT_ASSERT_OK(rt_buf_printf(&q, "%sk%d=%%E1%%88%%B4", i ? "&" : "", i));
    }
    struct rt_sigv4_request req = {.method = RT_STR_LIT("GET"),
                                   .path = RT_STR_LIT("/"),
                                   .query = {q.data, q.len},
                                   .headers = h,
                                   .n_headers = N};
    struct rt_sigv4_config cfg = base_cfg();
    struct rt_sigv4_result res;
    RT_ASSERT_OK(rt_sigv4_sign(&req, &cfg, &res, NULL));
    RT_ASSERT(rt_str_starts_with(res.signed_headers, "x-amz-date;x-h-001;x-h-002;"));
    long before = rt_alloc_live();
    rt_alloc_fail_after(1);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_sigv4_sign(&req, &cfg, &res, &err), RT_ENOMEM);
    rt_alloc_fail_after(0);
    RT_ASSERT_INT_EQ(rt_alloc_live(), before);
    rt_buf_cleanup(&q);
    rt_free(names);
    rt_free(h);
}

RT_TEST(raw_parse_forms_and_errors)
{
    struct rt_sigv4_raw_request r;
    struct rt_error err;
    const char a[] = "GET /a b/\xe1\x88\xb4?x=1 y HTTP/1.1\r\nHost: h\r\nX:1\r\n  2\r\n\r\nBODY";
    RT_ASSERT_OK(rt_sigv4_raw_parse(a, sizeof(a) - 1, &r, NULL));
    RT_ASSERT(rt_str_eq_c(r.method, "GET"));
    RT_ASSERT(rt_str_eq_c(r.path, "/a b/\xe1\x88\xb4"));
    RT_ASSERT(rt_str_eq_c(r.query, "x=1 y"));
    RT_ASSERT(r.crlf && r.colon_space && r.has_query);
    RT_ASSERT_INT_EQ(r.n_headers, 2);
    RT_ASSERT(rt_str_eq_c(r.headers[1].value, "1\r\n  2"));
    RT_ASSERT(rt_str_eq_c(r.lines[1], "X:1\r\n  2"));
    RT_ASSERT(rt_str_eq_c(r.body, "BODY"));
    const char b[] = "POST / HTTP/1.1\nHost:h";
    RT_ASSERT_OK(rt_sigv4_raw_parse(b, sizeof(b) - 1, &r, NULL));
    RT_ASSERT(!r.crlf && !r.colon_space && r.body.len == 0 && r.n_headers == 1);
    const char *bad[] = {"",
                         "GET\n",
                         "GET / HTTP/1.1\nno colon\n",
                         "GET / HTTP/1.1\n x:1\n",
                         "GET / HTTP/1.1\nBad Name:1\n",
                         "GET / FTP\n",
                         "GET  HTTP/1.1\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rt_error_clear(&err);
        if (rt_sigv4_raw_parse(bad[i], strlen(bad[i]), &r, &err) != RT_EPARSE)
            RT_FAIL("accepted bad request %zu: \"%s\"", i, bad[i]);
        RT_ASSERT(err.msg[0] != '\0');
    }
}
